"""A stream's per-cloud update of the shipped MS-GAT filter, and its bytes.

The encoder has the original colours, so it can tune the shipped filter to the cloud it
codes (:mod:`nmc.pointcloud.msgat.adapt`) and send the result in the attribute chunk. Four
kinds, by payload (``docs/pointcloud.md``):

- empty: the shipped filter with its shipped per-step gating;
- ``kind:u8 = 1, k:u8 × 3``: per-channel strengths ``k / 32`` (0..2) replacing the gating;
- ``kind:u8 = 2``, then a weight-update payload (:func:`nmc.weights.encode_update`) of
  ``head.weight`` and ``head.bias`` against the shipped weights: a new linear head, applied
  at full strength (written by the version-3 encoder);
- ``kind:u8 = 3`` (version 4 on), per channel one of off / shipped gating / strength
  ``k / 32`` / a new head row coded as signed Exp-Golomb steps of ``2^-e`` from the shipped
  row: ``modes:u8`` (2 bits per channel, Y in the low bits), then per channel in order
  ``k:u8`` (strength) or ``e:u8`` (head), then the rows' integers as one bit string (MSB
  first, zero-padded to a byte). The header costs 2-5 bytes where the weight-update
  payload of kind 2 costs about 30, and a zero costs one bit;
- ``kind:u8 = 4`` (version 5 on), ``inner:blob``, then a step of the network's own weights
  (:mod:`nmc.pointcloud.msgat.stepping`): the inner update (empty, kind 1 or kind 3) is
  applied to the stepped network.

The decoder rebuilds the head exactly as the encoder did (integers times float32 steps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.pointcloud.msgat.golomb import MAX_PREFIX, BitReader, golomb_text, pack_text
from nmc.pointcloud.msgat.stepping import (
    NetworkStep,
    read_network_step,
    rebuild_weights,
    write_network_step,
)
from nmc.pointcloud.postfilter import (
    CHANNELS_UPDATE,
    HEAD_UPDATE,
    NETWORK_UPDATE,
    SCALARS_UPDATE,
)
from nmc.weights import decode_update, encode_update

STRENGTH_UNIT = 32  # strengths are k / 32
MAX_STRENGTH_LEVEL = 64  # so at most 2
HEAD_TENSORS = ("head.weight", "head.bias")
CHANNEL_MODES = ("off", "gated", "strength", "head")
MAX_HEAD_EXPONENT = 24  # head steps 2^0 .. 2^-24
INNER_KINDS = ("shipped", "scalars", "channels")  # the updates a network step may carry


@dataclass(frozen=True)
class ChannelUpdate:
    """How a per-channel update (kind 3) filters one colour channel (Y, Cb or Cr).

    Attributes:
        mode: ``"off"`` (unfiltered), ``"gated"`` (shipped head and gating), ``"strength"``
            (shipped head at strength ``level / 32``) or ``"head"`` (a new head row at
            strength 1).
        level: strength level 0..64 (mode ``"strength"``).
        exponent: the head row's step is ``2^-exponent`` (mode ``"head"``), 0..24.
        levels: the head row's change from the shipped row in steps, ``C + 1`` integers
            (the C weights, then the bias; mode ``"head"``).
    """

    mode: str
    level: int = 0
    exponent: int = 0
    levels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in CHANNEL_MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {CHANNEL_MODES}")
        if not 0 <= self.level <= MAX_STRENGTH_LEVEL:
            raise ValueError(f"strength level {self.level} outside 0..{MAX_STRENGTH_LEVEL}")
        if not 0 <= self.exponent <= MAX_HEAD_EXPONENT:
            raise ValueError(f"head exponent {self.exponent} outside 0..{MAX_HEAD_EXPONENT}")
        if any(abs(int(q)) >= 1 << MAX_PREFIX for q in self.levels):
            raise ValueError(f"head levels must be below 2^{MAX_PREFIX} in magnitude")

    @property
    def strength(self) -> float | None:
        """Strength of this channel's residual, None for the shipped gating."""
        return {"off": 0.0, "gated": None, "head": 1.0}.get(self.mode, self.level / STRENGTH_UNIT)

    @property
    def step(self) -> float:
        """Quantization step of the head row's change (mode ``"head"``)."""
        return 2.0**-self.exponent


@dataclass(frozen=True)
class FilterUpdate:
    """What the stream changes in the shipped filter (nothing by default).

    Attributes:
        strength: per-channel (Y, Cb, Cr) strengths replacing the shipped gating, or None.
        head: ``(weight [3, C], bias [3])`` float32 replacing the shipped head, or None.
        channels: a per-channel update (kind 3), or None; :func:`channels_update` fills
            ``head`` from it (the shipped rows where a channel keeps the shipped head).
        network: a step of the network's weights (kind 4, version 5), or None; the fields
            above are then its inner update, applied to the stepped network.
        weights: the stepped tensors of ``network`` (:func:`rebuild_weights`).
    """

    strength: tuple[float, float, float] | None = None
    head: tuple[torch.Tensor, torch.Tensor] | None = None
    channels: tuple[ChannelUpdate, ...] | None = None
    network: NetworkStep | None = None
    weights: dict[str, torch.Tensor] | None = None

    @property
    def kind(self) -> str:
        """``"shipped"``, ``"scalars"``, ``"head"``, ``"channels"`` or ``"network"``."""
        if self.network is not None:
            return "network"
        if self.channels is not None:
            return "channels"
        if self.head is not None:
            return "head"
        return "scalars" if self.strength is not None else "shipped"

    def strengths(self, gated: np.ndarray) -> np.ndarray:
        """Per-point strengths ``[N, 3]`` float32 given the shipped gating's ``gated``."""
        if self.channels is not None:
            out = np.array(gated, dtype=np.float32, copy=True)
            for c, channel in enumerate(self.channels):
                if channel.strength is not None:
                    out[:, c] = channel.strength
            return out
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
    if update.network is not None:
        inner = dataclasses.replace(update, network=None, weights=None)
        if inner.kind not in INNER_KINDS:
            raise ValueError(f"a network step carries no {inner.kind} update")
        payload, inner = write_filter_update(inner, reference, head_step)
        out = FieldWriter().u8(NETWORK_UPDATE).blob(payload)
        weights = rebuild_weights(update.network, reference)
        rebuilt = dataclasses.replace(inner, network=update.network, weights=weights)
        return write_network_step(out, update.network), rebuilt
    if update.channels is not None:
        return _write_channels(update.channels), channels_update(update.channels, reference)
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


def read_filter_update(
    payload: bytes, reference: dict[str, torch.Tensor], network: bool = True
) -> FilterUpdate:
    """Parse an update written by :func:`write_filter_update` (BitstreamError if damaged).

    Args:
        payload: the update's bytes; reference: the shipped state_dict;
        network: whether the stream's version may step the network (kind 4, version 5 on).
    """
    if not payload:
        return FilterUpdate()
    src = FieldReader(bytes(payload), "MS-GAT filter update")
    kind = src.u8()
    if kind == NETWORK_UPDATE and network:
        inner = src.blob()
        if inner[:1] not in (b"", bytes([SCALARS_UPDATE]), bytes([CHANNELS_UPDATE])):
            raise BitstreamError(f"{src.what}: a network step carries inner kind {inner[0]}")
        update = read_filter_update(inner, reference, network=False)
        step = read_network_step(src, reference)
        return dataclasses.replace(update, network=step, weights=rebuild_weights(step, reference))
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
    if kind == CHANNELS_UPDATE:
        return channels_update(_read_channels(src, reference), reference)
    raise BitstreamError(f"MS-GAT filter update: unknown kind {kind}")


def raise_if_bad_head(
    weight: torch.Tensor, bias: torch.Tensor, reference: dict[str, torch.Tensor]
) -> None:
    """:class:`ValueError` unless the head has the shipped head's shapes."""
    want = (reference[HEAD_TENSORS[0]].shape, reference[HEAD_TENSORS[1]].shape)
    if (weight.shape, bias.shape) != want:
        raise ValueError(f"head of shapes {weight.shape}, {bias.shape}; expected {want}")


def channels_update(
    channels: Sequence[ChannelUpdate], reference: dict[str, torch.Tensor]
) -> FilterUpdate:
    """The :class:`FilterUpdate` of a per-channel update, its head rebuilt as the decoder does.

    A head row is ``shipped_row + levels * step`` in float32; channels without a new row keep
    the shipped row (their residual is the shipped one, at their strength).

    Raises:
        ValueError: not 3 channels, or a head row of the wrong length.
    """
    channels = tuple(channels)
    if len(channels) != 3:
        raise ValueError(f"a per-channel update has 3 channels, got {len(channels)}")
    shipped = torch.cat([reference[HEAD_TENSORS[0]], reference[HEAD_TENSORS[1]][:, None]], dim=1)
    rows = shipped.detach().float().clone()
    for c, channel in enumerate(channels):
        if channel.mode != "head":
            continue
        if len(channel.levels) != rows.shape[1]:
            raise ValueError(f"head row of {len(channel.levels)} values; expected {rows.shape[1]}")
        levels = torch.tensor(channel.levels, dtype=torch.float32)
        rows[c] = rows[c] + levels * torch.tensor(channel.step, dtype=torch.float32)
    head = (rows[:, :-1].contiguous(), rows[:, -1].contiguous())
    return FilterUpdate(head=head, channels=channels)


def _write_channels(channels: Sequence[ChannelUpdate]) -> bytes:
    out = FieldWriter().u8(CHANNELS_UPDATE)
    out.u8(sum(CHANNEL_MODES.index(ch.mode) << (2 * c) for c, ch in enumerate(channels)))
    text = ""
    for channel in channels:
        if channel.mode == "strength":
            out.u8(channel.level)
        elif channel.mode == "head":
            out.u8(channel.exponent)
            text += golomb_text(channel.levels)
    return out.getvalue() + pack_text(text)


def _read_channels(src: FieldReader, reference: dict[str, torch.Tensor]) -> list[ChannelUpdate]:
    modes = src.u8()
    if modes >> 6:
        raise BitstreamError(f"{src.what}: channel modes byte {modes} uses its top bits")
    kinds = [CHANNEL_MODES[(modes >> (2 * c)) & 3] for c in range(3)]
    params = []
    for kind in kinds:
        value = src.u8() if kind in ("strength", "head") else 0
        limit = MAX_STRENGTH_LEVEL if kind == "strength" else MAX_HEAD_EXPONENT
        if value > limit:
            raise BitstreamError(f"{src.what}: {kind} value {value} > {limit}")
        params.append(value)
    width = reference[HEAD_TENSORS[0]].shape[1] + 1
    bits = BitReader(src.raw(src.remaining), src.what)
    values = bits.signed(width * kinds.count("head"))
    bits.expect_end("head rows")
    channels, start = [], 0
    for kind, value in zip(kinds, params):
        if kind == "head":
            row = tuple(values[start : start + width])
            start += width
            channels.append(ChannelUpdate(kind, exponent=value, levels=row))
        else:
            channels.append(ChannelUpdate(kind, level=value if kind == "strength" else 0))
    return channels
