"""Entropy coding of quantized RAHT coefficients: binarization, contexts, quantization.

A group of blocks (parents whose children are merged at one level) is coded merge step by
merge step, coarse to fine (x, then y, then z), and within a step channel by channel
(Y, Cb, Cr). Each magnitude is binarized: significance (``|q| > 0``), ``|q| > 1``, then
``|q| - 2`` as an order-0 Exp-Golomb code (unary prefix flags, then suffix bits); signs follow
after the whole group, one per non-zero value. Every bit goes through the adaptive binary
coder of :mod:`nmc.entropy.adaptive`.

Contexts (integers only, so every decoder parses alike):

* significance: channel x weight class of the coefficient (``log2`` of ``w1 w2 / (w1 + w2)``,
  which scales its expected magnitude) x activity class of its block (decoded magnitudes
  nearby: the parent's block, its neighbours' and the coarser steps of the same block) x, for
  chroma, the capped magnitude of the same coefficient's luma; contexts of one channel and
  weight class share a prior;
* ``|q| > 1``: channel x weight class x capped activity class;
* Exp-Golomb prefix flags: channel x coarse weight class x flag position (capped); suffix
  bits: channel x position below the leading one (capped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel
from nmc.errors import BitstreamError
from nmc.pointcloud.raht import Step, coefficient_weights

WEIGHT_CLASSES = 16
_ACTIVITY_EDGES = np.array([0.5, 1.5, 2.5, 4.5, 8.5, 16.5])
ACTIVITY_CLASSES = _ACTIVITY_EDGES.size + 1
_PREFIX_POSITIONS = 6
_SUFFIX_POSITIONS = 4
# Exp-Golomb prefixes longer than this are refused by the decoder (|q| < 2**40 + 1).
MAX_PREFIX = 40
# Coefficient statistics drift less than occupancy statistics: longer blocks (fewer rANS
# calls) cost almost nothing here.
_BLOCKS = {"first_block": 256, "last_block": 8192}
SIGNIFICANT = ContextModel(
    "significant", 3 * WEIGHT_CLASSES * ACTIVITY_CLASSES * 3, share=ACTIVITY_CLASSES * 3,
    **_BLOCKS,
)  # fmt: skip
ABOVE_ONE = ContextModel("above one", 3 * WEIGHT_CLASSES * 3, **_BLOCKS)
PREFIX = ContextModel("prefix", 3 * 4 * _PREFIX_POSITIONS, **_BLOCKS)
SUFFIX = ContextModel("suffix", 3 * _SUFFIX_POSITIONS, **_BLOCKS)
SIGN = ContextModel("sign", 3, **_BLOCKS)
# Lagrangian slope of the quantizer's pruning, in squared steps per bit: at high rate a
# uniform quantizer trades D = step**2 / 12 against rate with dD/dR = -2 ln 2 D.
RD_SLOPE = 2.0 * np.log(2.0) / 12.0


@dataclass(frozen=True)
class Quantizer:
    """The encoder's quantization choices per channel (Y, Cb, Cr); not in the bitstream.

    Attributes:
        rounding: dead-zone rounding offsets (0.5 = round to nearest).
        slope: multipliers of :data:`RD_SLOPE` for the pruning of magnitudes of 1.

    The defaults favour luma: PSNR-YUV weighs Y, Cb, Cr 6:1:1, so a chroma bit buys a sixth
    of a luma bit's gain (measured on the OSD scans: YUV BD-rate against TMC13 from about +10 %
    with equal treatment to about +2 %).
    """

    rounding: tuple[float, float, float] = (0.45, 0.3, 0.3)
    slope: tuple[float, float, float] = (0.5, 4.0, 4.0)


# Bits a magnitude of 1 costs besides its significance flag: the sign and the |q| > 1 flag.
_ONE_EXTRA_BITS = 1.5


@dataclass(frozen=True)
class Layout:
    """Where a group's coefficients sit.

    Attributes:
        ends: int64 [4]: coefficients of merge step t are ``ends[t]:ends[t+1]``.
        block: int64 [K]: the group-local block (parent) of each coefficient.
        weight_class: int64 [K]: weight class of each coefficient.
    """

    ends: np.ndarray
    block: np.ndarray
    weight_class: np.ndarray

    @classmethod
    def of(cls, steps: tuple[Step, Step, Step]) -> Layout:
        ends = np.cumsum([0] + [s.pairs for s in steps])
        to_next = []
        for step in steps:
            starts = np.zeros(step.w_in.size, dtype=np.int64)
            starts[step.first] = 1
            to_next.append(np.cumsum(starts) - 1)
        blocks = []
        for t, step in enumerate(steps):
            node = np.flatnonzero(step.pair)
            for u in range(t + 1, 3):
                node = to_next[u][node]
            blocks.append(node)
        weight = coefficient_weights(steps)
        weight_class = np.clip(np.round(np.log2(weight)) + 1, 0, WEIGHT_CLASSES - 1)
        return cls(ends, np.concatenate(blocks), weight_class.astype(np.int64))

    def part(self, t: int) -> slice:
        return slice(int(self.ends[t]), int(self.ends[t + 1]))


def block_activity(layout: Layout, q: np.ndarray, blocks: int) -> np.ndarray:
    """float64 ``[blocks, 2]``: summed luma and chroma magnitudes of each block's coefficients."""
    magnitude = np.abs(q)
    return np.stack(
        [
            np.bincount(layout.block, weights=magnitude[:, 0], minlength=blocks),
            np.bincount(layout.block, weights=magnitude[:, 1:].sum(axis=1), minlength=blocks),
        ],
        axis=1,
    )


def _contexts(
    layout: Layout, around: np.ndarray, part: slice, q: np.ndarray, channel: int
) -> np.ndarray:
    score = around[layout.block[part], min(channel, 1)]
    ctx = channel * WEIGHT_CLASSES + layout.weight_class[part]
    ctx = ctx * ACTIVITY_CLASSES + np.searchsorted(_ACTIVITY_EDGES, score)
    luma = np.minimum(np.abs(q[part, 0]), 2) if channel else 0
    return ctx * 3 + luma


def _above_contexts(ctx: np.ndarray, weight_class: np.ndarray, channel: int) -> np.ndarray:
    """Contexts of the ``|q| > 1`` flags, from the significance contexts."""
    activity = np.minimum((ctx // 3) % ACTIVITY_CLASSES, 2)
    return (channel * WEIGHT_CLASSES + weight_class) * 3 + activity


def _add_to_blocks(around: np.ndarray, layout: Layout, part: slice, q: np.ndarray) -> None:
    """Add one merge step's magnitudes to their blocks' activity (finer steps see them)."""
    magnitude = np.abs(q[part])
    np.add.at(around[:, 0], layout.block[part], magnitude[:, 0])
    np.add.at(around[:, 1], layout.block[part], magnitude[:, 1:].sum(axis=1))


def _quantize(
    coder: AdaptiveEncoder, residual: np.ndarray, ctx: np.ndarray, rounding: float, slope: float
) -> np.ndarray:
    """Magnitudes of ``residual`` (in steps): dead-zone rounding, then rate-distortion pruning.

    A magnitude of 1 is kept only when the distortion it saves, ``2 |r| - 1`` squared steps,
    is worth its bits at ``slope``, with the coder's current statistics as the rate.
    """
    magnitude = np.floor(np.abs(residual) + rounding).astype(np.int64)
    ones = np.flatnonzero(magnitude == 1)
    if ones.size:
        extra = coder.cost_bits(SIGNIFICANT, 1, ctx[ones]) - coder.cost_bits(
            SIGNIFICANT, 0, ctx[ones]
        )
        worth = 2.0 * np.abs(residual[ones]) - 1.0 > slope * (extra + _ONE_EXTRA_BITS)
        magnitude[ones[~worth]] = 0
    return magnitude


def encode_group(
    coder: AdaptiveEncoder,
    layout: Layout,
    around: np.ndarray,
    residual: np.ndarray,
    quantizer: Quantizer,
) -> np.ndarray:
    """Quantize and code one group's residuals (float64 ``[K, 3]``, in steps).

    ``around`` (float64 ``[blocks, 2]``) is the blocks' activity before this group; it is
    updated in place. Returns the quantized values (int64 ``[K, 3]``).
    """
    q = np.zeros(residual.shape, dtype=np.int64)
    for t in (2, 1, 0):
        part = layout.part(t)
        for channel in range(3):
            ctx = _contexts(layout, around, part, q, channel)
            value = residual[part, channel]
            magnitude = _quantize(
                coder,
                value,
                ctx,
                quantizer.rounding[channel],
                RD_SLOPE * quantizer.slope[channel],
            )
            q[part, channel] = np.where(value < 0, -magnitude, magnitude)
            _encode_magnitudes(coder, magnitude, ctx, layout.weight_class[part], channel)
        _add_to_blocks(around, layout, part, q)
    nonzero = q != 0
    coder.encode(SIGN, q[nonzero] < 0, np.nonzero(nonzero)[1])
    return q


def decode_group(coder: AdaptiveDecoder, layout: Layout, around: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_group`: the quantized values (int64 ``[K, 3]``)."""
    q = np.zeros((layout.block.size, 3), dtype=np.int64)
    for t in (2, 1, 0):
        part = layout.part(t)
        for channel in range(3):
            ctx = _contexts(layout, around, part, q, channel)
            q[part, channel] = _decode_magnitudes(coder, ctx, layout.weight_class[part], channel)
        _add_to_blocks(around, layout, part, q)
    rows, channels = np.nonzero(q)
    negative = coder.decode(SIGN, channels).astype(bool)
    q[rows[negative], channels[negative]] *= -1
    return q


def _encode_magnitudes(
    coder: AdaptiveEncoder,
    magnitude: np.ndarray,
    ctx: np.ndarray,
    weight_class: np.ndarray,
    channel: int,
) -> None:
    significant = magnitude > 0
    coder.encode(SIGNIFICANT, significant, ctx)
    nonzero = magnitude[significant]
    big = nonzero > 1
    coder.encode(
        ABOVE_ONE, big, _above_contexts(ctx[significant], weight_class[significant], channel)
    )
    _encode_exp_golomb(coder, nonzero[big] - 2, weight_class[significant][big], channel)


def _decode_magnitudes(
    coder: AdaptiveDecoder, ctx: np.ndarray, weight_class: np.ndarray, channel: int
) -> np.ndarray:
    magnitude = coder.decode(SIGNIFICANT, ctx)
    significant = np.flatnonzero(magnitude)
    above = _above_contexts(ctx[significant], weight_class[significant], channel)
    big = significant[np.flatnonzero(coder.decode(ABOVE_ONE, above))]
    magnitude[big] = 2 + _decode_exp_golomb(coder, weight_class[big], channel)
    return magnitude


def _prefix_contexts(weight_class: np.ndarray, position: int, channel: int) -> np.ndarray:
    return (channel * 4 + weight_class // 4) * _PREFIX_POSITIONS + min(
        position, _PREFIX_POSITIONS - 1
    )


def _suffix_contexts(length: np.ndarray, position: int, channel: int) -> np.ndarray:
    return channel * _SUFFIX_POSITIONS + np.minimum(length - 1 - position, _SUFFIX_POSITIONS - 1)


def _encode_exp_golomb(
    coder: AdaptiveEncoder, value: np.ndarray, weight_class: np.ndarray, channel: int
) -> None:
    """Order-0 Exp-Golomb code of ``value`` (int64 >= 0): ``m = value + 1`` has ``n + 1``
    bits; ``n`` is sent as unary flags ("n > j"), then the ``n`` bits of ``m`` below its
    leading one, most significant first."""
    m = value + 1
    length = np.floor(np.log2(m)).astype(np.int64)
    length[(1 << length) > m] -= 1
    length[(2 << length) <= m] += 1
    alive = np.arange(m.size)
    position = 0
    while alive.size:
        more = length[alive] > position
        coder.encode(PREFIX, more, _prefix_contexts(weight_class[alive], position, channel))
        alive = alive[more]
        position += 1
    for bit in range(int(length.max(initial=0)) - 1, -1, -1):
        chosen = np.flatnonzero(length > bit)
        coder.encode(SUFFIX, (m[chosen] >> bit) & 1, _suffix_contexts(length[chosen], bit, channel))


def _decode_exp_golomb(
    coder: AdaptiveDecoder, weight_class: np.ndarray, channel: int
) -> np.ndarray:
    length = np.zeros(weight_class.size, dtype=np.int64)
    alive = np.arange(weight_class.size)
    position = 0
    while alive.size:
        if position > MAX_PREFIX:
            raise BitstreamError(f"{coder.what}: coefficient magnitude out of range (damaged)")
        more = coder.decode(PREFIX, _prefix_contexts(weight_class[alive], position, channel))
        alive = alive[more == 1]
        length[alive] += 1
        position += 1
    m = np.ones(weight_class.size, dtype=np.int64)
    for bit in range(int(length.max(initial=0)) - 1, -1, -1):
        chosen = np.flatnonzero(length > bit)
        m[chosen] = (m[chosen] << 1) | coder.decode(
            SUFFIX, _suffix_contexts(length[chosen], bit, channel)
        )
    return m - 1
