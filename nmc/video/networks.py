"""The two network families, how their shapes are stored, which parameters a P frame may move,
and the deterministic renderer the encoder and decoder share.

Family ids (stored in the codec header, never reused): 0 = ``mlp`` (:mod:`nmc.video.mlp`),
1 = ``conv`` (:mod:`nmc.video.conv`). Update modes (which parameters a P frame changes):
``all``; ``first`` (MLP: frequency matrix + first layer; conv: latent + first block);
``last`` (the output layer); ``bias`` (every bias); ``lowrank`` (every weight matrix moves by a
rank-``r`` product ``U V``, with ``U`` and ``V`` coded instead of the dense step; small tensors and
biases move densely).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.video.conv import ConvArch, ConvGenerator
from nmc.video.mlp import CoordinateMlp, MlpArch
from nmc.video.planes import from_grid

FAMILIES = ("mlp", "conv")
UPDATE_MODES = ("all", "first", "last", "bias", "lowrank")
MAX_PARAMETERS = 1 << 24
_MAX_WIDTH = 4096
_MAX_LAYERS = 16


@dataclass(frozen=True)
class NetSpec:
    """Everything the decoder needs to rebuild an (uninitialized) network."""

    family: str
    arch: MlpArch | ConvArch
    height: int
    width: int

    def parameter_count(self) -> int:
        """Number of weights, counted on the meta device (nothing is allocated)."""
        with torch.device("meta"):
            return sum(p.numel() for p in self.build().parameters())

    def build(self) -> nn.Module:
        """A fresh network with uninitialized parameters."""
        if self.family == "mlp":
            return CoordinateMlp(self.arch, self.height, self.width)
        return ConvGenerator(self.arch, self.height, self.width)

    def write(self, out: FieldWriter) -> None:
        """Append family id and layer sizes to a codec header."""
        fields = self.arch.fields()
        out.u8(FAMILIES.index(self.family)).uvarint(len(fields))
        for value in fields:
            out.uvarint(value)

    @staticmethod
    def read(src: FieldReader, height: int, width: int) -> NetSpec:
        family_id = src.u8()
        if family_id >= len(FAMILIES):
            raise BitstreamError(f"{src.what}: unknown network family id {family_id}")
        count = src.bounded_uvarint(_MAX_LAYERS, "layer count")
        fields = [src.bounded_uvarint(_MAX_WIDTH, "layer size") for _ in range(count)]
        if min(fields, default=0) < 1:
            raise BitstreamError(f"{src.what}: network layer sizes must be positive")
        family = FAMILIES[family_id]
        if family == "mlp":
            if count != 3:
                raise BitstreamError(f"{src.what}: an mlp network has 3 size fields, got {count}")
            spec = NetSpec(family, MlpArch(*fields), height, width)
        elif count < 2:
            raise BitstreamError(f"{src.what}: a conv network needs at least one block")
        else:
            spec = NetSpec(family, ConvArch(fields[0], tuple(fields[1:])), height, width)
        if spec.parameter_count() > MAX_PARAMETERS:
            raise BitstreamError(f"{src.what}: network larger than {MAX_PARAMETERS} weights")
        return spec


@dataclass(frozen=True)
class UpdatePlan:
    """Which parameters a P frame moves: ``dense`` ones by a coded step, ``lowrank`` ones by a
    coded rank-``rank`` product."""

    dense: tuple[str, ...]
    lowrank: tuple[str, ...]
    rank: int


def update_plan(net: nn.Module, mode: str, rank: int) -> UpdatePlan:
    """The :class:`UpdatePlan` of update ``mode`` (one of :data:`UPDATE_MODES`) for ``net``."""
    names = [n for n, _ in net.named_parameters()]
    if mode == "all":
        return UpdatePlan(tuple(names), (), 0)
    if mode in ("first", "last"):
        return UpdatePlan(tuple(net.groups()[mode]), (), 0)
    if mode == "bias":
        return UpdatePlan(tuple(n for n in names if n.endswith(".bias")), (), 0)
    if mode == "lowrank":
        if rank < 1:
            raise InputError(f"rank must be >= 1 for lowrank updates, got {rank}")
        shapes = dict(net.named_parameters())
        low = tuple(n for n in names if min(_matrix_shape(shapes[n].shape)) > 2 * rank)
        return UpdatePlan(tuple(n for n in names if n not in low), low, rank)
    raise InputError(f"update must be one of {', '.join(UPDATE_MODES)}, got {mode!r}")


def _matrix_shape(shape: torch.Size) -> tuple[int, int]:
    rows = int(shape[0]) if len(shape) else 1
    if len(shape) >= 2 and rows == 1:  # the conv latent [1, C, h, w]: channels x positions
        return int(shape[1]), int(np.prod(shape[2:], dtype=np.int64))
    return rows, int(np.prod(shape[1:], dtype=np.int64))


def factor_shapes(shape: torch.Size, rank: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of the factors ``U`` ``[rows, rank]`` and ``V`` ``[rank, cols]`` of a tensor."""
    rows, cols = _matrix_shape(shape)
    return (rows, rank), (rank, cols)


def lowrank_step(u: torch.Tensor, v: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``U V`` reshaped to ``shape``, summed outer product by outer product in float32.

    Elementwise products and sums in a fixed order give the same bits on any thread count,
    which a BLAS matrix product does not promise.
    """
    out = torch.zeros(u.shape[0], v.shape[1], dtype=torch.float32, device=u.device)
    for k in range(u.shape[1]):
        out = out + u[:, k : k + 1].float() * v[k : k + 1, :].float()
    return out.reshape(shape)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads, then restore the caller's setting."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def render(
    net: nn.Module,
    state: Mapping[str, torch.Tensor],
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded 8-bit planes ``(y [H, W], u [Hc, Wc], v [Hc, Wc])`` of ``net`` with ``state``.

    ``size`` ``(height, width)`` renders a coordinate MLP at another resolution. On CPU the
    result does not depend on the torch thread count (the encoder reports PSNR on exactly
    these frames).
    """
    height, width = size or (net.height, net.width)
    device = next(iter(state.values())).device
    # MKL / oneDNN split reductions differently with the thread count (measured here: conv
    # outputs differ by ~1e-8 between 2 and 4 threads), which could flip a rounded pixel; one
    # thread makes decoded frames identical whatever the caller's torch thread setting.
    guard = torch_threads(1) if device.type == "cpu" else contextlib.nullcontext()
    with guard, torch.no_grad():
        if size is None:
            grid = torch.func.functional_call(net, dict(state), ())
        else:
            grid = torch.func.functional_call(net, dict(state), (height, width))
        return from_grid(grid, height, width)
