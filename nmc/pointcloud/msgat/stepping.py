"""A per-cloud step of the MS-GAT network's own weights (kind-4 filter updates, version 5).

The encoder fine-tunes a few structured, low-dimensional parts of the shipped network on the
cloud it codes (:mod:`nmc.pointcloud.msgat.finetune`) and sends them as integers times one
step ``2^-e``. The parts (*groups*), in the order of the reference state_dict:

- every Chebyshev weight ``W`` [out, in] (``branches.*.lins.*.weight``): a scale per output
  row and a scale per input column, ``W' = W ⊙ (1 + r·s)[:, None] ⊙ (1 + c·s)[None, :]``;
- the input embedding (``embed.weight``, ``embed.bias``) and the Chebyshev biases
  (``branches.*.bias``): an additive step, ``w' = w + q·s``.

Payload (after the update's kind byte and its inner update, ``docs/pointcloud.md``): ``e``
u8 (≤ :data:`MAX_STEP_EXPONENT`), then one bit string (:mod:`nmc.pointcloud.msgat.golomb`):
per group a flag (1: coded), then each coded group's integers as signed Exp-Golomb codes.
Encoder and decoder rebuild the weights with :func:`rebuild_weights` (float32), so they agree
bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.pointcloud.msgat.golomb import BitReader, exp_golomb_bits, golomb_text, pack_text

MAX_STEP_EXPONENT = 24
MAX_STEP_LEVEL = 1 << 12  # |integer| bound: a scale or delta of at most 4096 steps
GROUP_MODES = ("rows", "cols", "delta")


@dataclass(frozen=True)
class StepGroup:
    """One steppable part of the network.

    Attributes:
        tensor: state_dict name; mode: ``"rows"`` / ``"cols"`` (scales of a weight matrix's
            rows or columns) or ``"delta"`` (added to every element); size: its integers.
    """

    tensor: str
    mode: str
    size: int


def step_groups(reference: Mapping[str, torch.Tensor]) -> tuple[StepGroup, ...]:
    """The steppable groups of a network's state_dict, in the order the stream codes them."""
    groups = []
    for name, value in reference.items():
        if name.startswith("branches.") and ".lins." in name and name.endswith(".weight"):
            groups.append(StepGroup(name, "rows", int(value.shape[0])))
            groups.append(StepGroup(name, "cols", int(value.shape[1])))
        elif name.startswith("embed.") or (name.startswith("branches.") and name.endswith("bias")):
            groups.append(StepGroup(name, "delta", int(value.numel())))
    return tuple(groups)


@dataclass(frozen=True)
class NetworkStep:
    """Integers of a network step: per group of :func:`step_groups` an int64 array or None.

    Attributes:
        exponent: the step is ``2^-exponent``, 0..24.
        levels: per group, its integers (None: not coded, all zero).
    """

    exponent: int
    levels: tuple[np.ndarray | None, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.exponent <= MAX_STEP_EXPONENT:
            raise ValueError(f"step exponent {self.exponent} outside 0..{MAX_STEP_EXPONENT}")
        for q in self.levels:
            if q is not None and np.any(np.abs(q) > MAX_STEP_LEVEL):
                raise ValueError(f"step levels must be at most {MAX_STEP_LEVEL} in magnitude")

    @property
    def step(self) -> float:
        return 2.0**-self.exponent

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetworkStep) or self.exponent != other.exponent:
            return False
        if len(self.levels) != len(other.levels):
            return False
        return all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(self.levels, other.levels)
        )

    __hash__ = None  # type: ignore[assignment]

    def bits(self) -> int:
        """Bits of the payload after the kind byte and inner update (8 + flags + codes)."""
        coded = [q for q in self.levels if q is not None]
        return 8 + len(self.levels) + sum(exp_golomb_bits(q) for q in coded)


def quantize_step(
    groups: tuple[StepGroup, ...], values: list[np.ndarray], exponent: int
) -> NetworkStep:
    """Round float group values (scales or deltas) to a :class:`NetworkStep`; groups whose
    integers are all 0 are not coded."""
    step = 2.0**-exponent
    levels: list[np.ndarray | None] = []
    for group, value in zip(groups, values):
        q = np.round(np.asarray(value, dtype=np.float64) / step)
        q = np.clip(q, -MAX_STEP_LEVEL, MAX_STEP_LEVEL).astype(np.int64)
        if q.shape != (group.size,):
            raise ValueError(
                f"{group.tensor} {group.mode}: {q.shape} values, expected {group.size}"
            )
        levels.append(q if q.any() else None)
    return NetworkStep(exponent, tuple(levels))


def rebuild_weights(
    step: NetworkStep, reference: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The stepped tensors (only those a coded group changes), float32, as the decoder
    builds them (:func:`stepped_tensors` of the integers times the float32 step)."""
    groups = step_groups(reference)
    if len(groups) != len(step.levels):
        raise ValueError(f"a step of {len(step.levels)} groups; this network has {len(groups)}")
    s = torch.tensor(step.step, dtype=torch.float32)
    values = [None if q is None else torch.from_numpy(q).float() * s for q in step.levels]
    return stepped_tensors(reference, groups, values)


def stepped_tensors(
    reference: Mapping[str, torch.Tensor],
    groups: tuple[StepGroup, ...],
    values: list[torch.Tensor | None],
) -> dict[str, torch.Tensor]:
    """Tensors changed by float group ``values`` (None: unchanged): deltas first, then row
    scales, then column scales. Differentiable in ``values`` (the encoder trains them)."""
    ops: dict[str, dict[str, torch.Tensor]] = {}
    for group, value in zip(groups, values):
        if value is not None:
            ops.setdefault(group.tensor, {})[group.mode] = value
    out = {}
    for name, parts in ops.items():
        w = reference[name].detach().float()
        if "delta" in parts:
            w = w + parts["delta"].reshape(w.shape)
        if "rows" in parts:
            w = w * (1.0 + parts["rows"])[:, None]
        if "cols" in parts:
            w = w * (1.0 + parts["cols"])[None, :]
        out[name] = w
    return out


def write_network_step(out: FieldWriter, step: NetworkStep) -> bytes:
    """Append ``e`` and the bit string of ``step`` to ``out``; returns its bytes."""
    out.u8(step.exponent)
    text = "".join("0" if q is None else "1" for q in step.levels)
    text += "".join(golomb_text(q.tolist()) for q in step.levels if q is not None)
    return out.raw(pack_text(text)).getvalue()


def read_network_step(src: FieldReader, reference: Mapping[str, torch.Tensor]) -> NetworkStep:
    """Parse what :func:`write_network_step` wrote, to the end of ``src``."""
    exponent = src.u8()
    if exponent > MAX_STEP_EXPONENT:
        raise BitstreamError(f"{src.what}: step exponent {exponent} > {MAX_STEP_EXPONENT}")
    groups = step_groups(reference)
    bits = BitReader(src.raw(src.remaining), src.what)
    coded = [bits.flag() for _ in groups]
    levels = [
        np.asarray(bits.signed(g.size), dtype=np.int64) if flag else None
        for g, flag in zip(groups, coded)
    ]
    bits.expect_end("network step")
    if any(q is not None and np.abs(q).max() > MAX_STEP_LEVEL for q in levels):
        raise BitstreamError(f"{src.what}: a step level above {MAX_STEP_LEVEL} in magnitude")
    return NetworkStep(exponent, tuple(levels))
