"""A stream's per-cloud update of the shipped MS-GAT filter, and its bytes.

The encoder has the original colours, so it can tune the shipped filter to the cloud it
codes (:mod:`nmc.pointcloud.msgat.adapt`) and send the result in the attribute chunk. Three
kinds, by payload (``docs/pointcloud.md``):

- empty: the shipped filter with its shipped per-step gating;
- ``kind:u8 = 1, k:u8 × 3``: per-channel strengths ``k / 32`` (0..2) replacing the gating;
- ``kind:u8 = 2``, then a weight-update payload (:func:`nmc.weights.encode_update`) of
  ``head.weight`` and ``head.bias`` against the shipped weights: a new linear head, applied
  at full strength.

The decoder rebuilds the head exactly as the encoder did (integers times float32 steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.pointcloud.postfilter import HEAD_UPDATE, SCALARS_UPDATE
from nmc.weights import decode_update, encode_update

STRENGTH_UNIT = 32  # strengths are k / 32
MAX_STRENGTH_LEVEL = 64  # so at most 2
HEAD_TENSORS = ("head.weight", "head.bias")


@dataclass(frozen=True)
class FilterUpdate:
    """What the stream changes in the shipped filter (nothing by default).

    Attributes:
        strength: per-channel (Y, Cb, Cr) strengths replacing the shipped gating, or None.
        head: ``(weight [3, C], bias [3])`` float32 replacing the shipped head, or None.
    """

    strength: tuple[float, float, float] | None = None
    head: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def kind(self) -> str:
        """``"shipped"``, ``"scalars"`` or ``"head"``."""
        if self.head is not None:
            return "head"
        return "scalars" if self.strength is not None else "shipped"

    def strengths(self, gated: np.ndarray) -> np.ndarray:
        """Per-point strengths ``[N, 3]`` float32 given the shipped gating's ``gated``."""
        if self.head is not None:
            return np.ones_like(gated)
        if self.strength is not None:
            return np.broadcast_to(np.asarray(self.strength, np.float32), gated.shape).copy()
        return gated


def write_filter_update(
    update: FilterUpdate, reference: dict[str, torch.Tensor], head_step: float = 1.0 / 256
) -> tuple[bytes, FilterUpdate]:
    """Bytes of ``update`` and the update exactly as :func:`read_filter_update` rebuilds it.

    Args:
        update: strengths (rounded here to multiples of 1/32 in [0, 2]) or a head.
        reference: the shipped model's state_dict (the decoder holds the same).
        head_step: quantization step of the head's change from the shipped head.
    """
    if update.head is not None:
        weight, bias = (t.detach().float().contiguous() for t in update.head)
        raise_if_bad_head(weight, bias, reference)
        new = {HEAD_TENSORS[0]: weight, HEAD_TENSORS[1]: bias}
        payload, recon = encode_update(new, reference, step=head_step)
        head = (recon[HEAD_TENSORS[0]], recon[HEAD_TENSORS[1]])
        return bytes([HEAD_UPDATE]) + payload, FilterUpdate(head=head)
    if update.strength is not None:
        levels = np.clip(
            np.round(np.asarray(update.strength) * STRENGTH_UNIT), 0, MAX_STRENGTH_LEVEL
        )
        levels = levels.astype(int)
        out = FieldWriter().u8(SCALARS_UPDATE)
        for level in levels.tolist():
            out.u8(level)
        strength = tuple(float(v) / STRENGTH_UNIT for v in levels)
        return out.getvalue(), FilterUpdate(strength=strength)
    return b"", FilterUpdate()


def read_filter_update(payload: bytes, reference: dict[str, torch.Tensor]) -> FilterUpdate:
    """Parse an update written by :func:`write_filter_update` (BitstreamError if damaged)."""
    if not payload:
        return FilterUpdate()
    src = FieldReader(bytes(payload), "MS-GAT filter update")
    kind = src.u8()
    if kind == SCALARS_UPDATE:
        levels = [src.u8() for _ in range(3)]
        src.expect_end()
        if max(levels) > MAX_STRENGTH_LEVEL:
            raise BitstreamError(f"MS-GAT filter update: strength level {max(levels)} > 64")
        return FilterUpdate(strength=tuple(v / STRENGTH_UNIT for v in levels))
    if kind == HEAD_UPDATE:
        try:
            tensors = decode_update(src.raw(src.remaining), reference)
        except InputError as exc:
            raise BitstreamError(f"MS-GAT filter update: {exc}") from exc
        if sorted(tensors) != sorted(HEAD_TENSORS):
            raise BitstreamError(f"MS-GAT filter update: expected the head, got {sorted(tensors)}")
        return FilterUpdate(head=(tensors[HEAD_TENSORS[0]], tensors[HEAD_TENSORS[1]]))
    raise BitstreamError(f"MS-GAT filter update: unknown kind {kind}")


def raise_if_bad_head(
    weight: torch.Tensor, bias: torch.Tensor, reference: dict[str, torch.Tensor]
) -> None:
    """:class:`ValueError` unless the head has the shipped head's shapes."""
    want = (reference[HEAD_TENSORS[0]].shape, reference[HEAD_TENSORS[1]].shape)
    if (weight.shape, bias.shape) != want:
        raise ValueError(f"head of shapes {weight.shape}, {bias.shape}; expected {want}")
