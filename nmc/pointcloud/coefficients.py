"""Entropy coding of quantized RAHT coefficients: binarization, contexts, quantization.

A group of blocks (parents whose children are merged at one level) is coded merge step by
merge step, coarse to fine (x, then y, then z), and within a step channel by channel
(Y, Cb, Cr); luma rank by rank (a coefficient's position among those of its block in its
step, one pass per rank). Each magnitude is binarized: significance (``|q| > 0``),
``|q| > 1``, then ``|q| - 2`` as an order-0 Exp-Golomb code (unary prefix flags, then suffix
bits); signs follow after the whole group, one per non-zero value (:func:`_sign_passes`).
Every bit goes through the adaptive binary coder of :mod:`nmc.entropy.adaptive`. Streams of
versions 1 and 2 were coded without ranks (``ranked=False``).

Contexts (integers only, so every decoder parses alike):

* significance: channel x weight class of the coefficient (``log2`` of ``w1 w2 / (w1 + w2)``,
  which scales its expected magnitude) x activity class of its block (decoded magnitudes
  nearby: the parent's block, its neighbours' and the coarser steps of the same block) x, for
  chroma, the capped magnitude of the same coefficient's luma, for luma the capped number of
  significant luma coefficients before it in its block and step; contexts of one channel
  and weight class share a prior;
* ``|q| > 1``: channel x weight class x capped activity class;
* Exp-Golomb prefix flags: channel x coarse weight class x flag position (capped); suffix
  bits: channel x position below the leading one (capped).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel
from nmc.entropy.binarize import decode_exp_golomb, encode_exp_golomb
from nmc.pointcloud.components import values
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
SIGN = ContextModel("sign", 5, **_BLOCKS)
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
    slope: tuple[float, float, float] = (0.5, 6.0, 6.0)


# Bits a magnitude of 1 costs besides its significance flag: the sign and the |q| > 1 flag.
_ONE_EXTRA_BITS = 1.5


@dataclass(frozen=True)
class Layout:
    """Where a group's coefficients sit.

    Attributes:
        ends: int64 [4]: coefficients of merge step t are ``ends[t]:ends[t+1]``.
        block: int64 [K]: the group-local block (parent) of each coefficient.
        weight_class: int64 [K]: weight class of each coefficient.
        rank: int64 [K]: position of each coefficient among those of its block in its merge
            step (0..3), in coding order.
    """

    ends: np.ndarray
    block: np.ndarray
    weight_class: np.ndarray
    rank: np.ndarray

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
        rank = np.concatenate([_ranks(block) for block in blocks])
        return cls(ends, np.concatenate(blocks), weight_class.astype(np.int64), rank)

    def part(self, t: int) -> slice:
        return slice(int(self.ends[t]), int(self.ends[t + 1]))


def _ranks(block: np.ndarray) -> np.ndarray:
    """int64: position of each entry among the equal entries of sorted ``block`` before it."""
    index = np.arange(block.size)
    first = np.ones(block.size, dtype=bool)
    first[1:] = block[1:] != block[:-1]
    return index - np.maximum.accumulate(np.where(first, index, 0))


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
    layout: Layout,
    around: np.ndarray,
    part: slice,
    rows: np.ndarray,
    q: np.ndarray,
    channel: int,
    ranked: bool,
) -> np.ndarray:
    """Significance contexts of the coefficients ``rows`` (int64) of merge step ``part``.

    The last factor is, for chroma, the capped magnitude of the coefficient's luma and, for
    luma when ``ranked``, the capped number of significant coefficients before it in its
    block and step (coded in earlier passes by rank; 0 otherwise).
    """
    block = layout.block[rows]
    score = around[block, min(channel, 1)]
    ctx = channel * WEIGHT_CLASSES + layout.weight_class[rows]
    ctx = ctx * ACTIVITY_CLASSES + np.searchsorted(_ACTIVITY_EDGES, score)
    if channel:
        last = np.minimum(np.abs(q[rows, 0]), 2)
    elif not ranked:
        last = 0
    else:
        significant = np.bincount(layout.block[part], weights=q[part, 0] != 0,
                                  minlength=int(block.max(initial=-1)) + 1)  # fmt: skip
        last = np.minimum(significant[block], 2).astype(np.int64)
    return ctx * 3 + last


def _passes(layout: Layout, t: int, channel: int, ranked: bool) -> list[np.ndarray]:
    """Rows of merge step ``t`` coded together: luma rank by rank when ``ranked``, else
    (and chroma always) all at once."""
    part = layout.part(t)
    rows = np.arange(part.start, part.stop)
    if channel or not ranked:
        return [rows]
    rank = layout.rank[part]
    return [rows[rank == r] for r in range(int(rank.max(initial=-1)) + 1)]


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
    components: np.ndarray,
) -> np.ndarray:
    """Quantize and code one group's residuals (float64 ``[K, 3]``, in steps).

    ``around`` (float64 ``[blocks, 2]``) is the blocks' activity before this group; it is
    updated in place. ``components`` (float64 ``[3, 3]``) is the inter-component prediction
    in steps (:meth:`nmc.pointcloud.components.ComponentPrediction.matrix`): each chroma
    value is quantized after subtracting its prediction from the coefficient's decoded
    earlier channels. Returns the quantized values (int64 ``[K, 3]``).
    """
    q = np.zeros(residual.shape, dtype=np.int64)
    for t in (2, 1, 0):
        part = layout.part(t)
        for channel in range(3):
            for rows in _passes(layout, t, channel, True):
                ctx = _contexts(layout, around, part, rows, q, channel, True)
                value = residual[rows, channel]
                if channel:
                    # q[rows, channel] is still 0, so this is the prediction alone.
                    value = value - values(q[rows], components)[:, channel]
                magnitude = _quantize(
                    coder,
                    value,
                    ctx,
                    quantizer.rounding[channel],
                    RD_SLOPE * quantizer.slope[channel],
                )
                q[rows, channel] = np.where(value < 0, -magnitude, magnitude)
                _encode_magnitudes(coder, magnitude, ctx, layout.weight_class[rows], channel)
        _add_to_blocks(around, layout, part, q)
    for rows, ctx in _sign_passes(layout, q, True):
        coder.encode(SIGN, q[rows[:, 0], rows[:, 1]] < 0, ctx)
    return q


def decode_group(
    coder: AdaptiveDecoder, layout: Layout, around: np.ndarray, ranked: bool = True
) -> np.ndarray:
    """Inverse of :func:`encode_group`: the quantized values (int64 ``[K, 3]``).

    ``ranked=False`` reads the coding of stream versions 1 and 2 (luma significance without
    in-block context, every sign in the context of its channel only).
    """
    q = np.zeros((layout.block.size, 3), dtype=np.int64)
    for t in (2, 1, 0):
        part = layout.part(t)
        for channel in range(3):
            for rows in _passes(layout, t, channel, ranked):
                ctx = _contexts(layout, around, part, rows, q, channel, ranked)
                q[rows, channel] = _decode_magnitudes(
                    coder, ctx, layout.weight_class[rows], channel
                )
        _add_to_blocks(around, layout, part, q)
    for rows, ctx in _sign_passes(layout, q, ranked):
        negative = coder.decode(SIGN, ctx).astype(bool)
        q[rows[negative, 0], rows[negative, 1]] *= -1
    return q


def _sign_passes(
    layout: Layout, q: np.ndarray, ranked: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(rows, contexts)`` of the sign passes: int64 ``[n, 2]`` (coefficient,
    channel) of non-zero values and their sign contexts.

    When ``ranked``, luma signs go rank by rank among the non-zero luma values of a block
    and merge step, each in the context of the previous one's sign (neighbouring pairs of a
    block often share a gradient: about 10 % fewer sign bits), then chroma signs in one pass
    per channel. ``q`` must hold the signs of the passes already yielded (the decoder fills
    them in between). Otherwise one pass, coefficient by coefficient, context = channel.
    """
    if not ranked:
        rows = np.argwhere(q != 0)
        yield rows, rows[:, 1]
        return
    nonzero = np.flatnonzero(q[:, 0])
    step = np.searchsorted(layout.ends, nonzero, side="right")
    rank = _ranks(step * (layout.block.size + 1) + layout.block[nonzero])
    for r in range(int(rank.max(initial=-1)) + 1):
        now = nonzero[rank == r]
        ctx = np.zeros(now.size, dtype=np.int64)
        if r:
            before = np.sign(q[nonzero[np.flatnonzero(rank == r) - 1], 0])
            ctx = np.where(before > 0, 1, 2)
        yield np.stack([now, np.zeros_like(now)], axis=1), ctx
    for channel in (1, 2):
        now = np.flatnonzero(q[:, channel])
        yield np.stack([now, np.full_like(now, channel)], axis=1), np.full(now.size, 2 + channel)


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
    encode_exp_golomb(
        coder, nonzero[big] - 2, *_exp_golomb_contexts(weight_class[significant][big], channel)
    )


def _decode_magnitudes(
    coder: AdaptiveDecoder, ctx: np.ndarray, weight_class: np.ndarray, channel: int
) -> np.ndarray:
    magnitude = coder.decode(SIGNIFICANT, ctx)
    significant = np.flatnonzero(magnitude)
    above = _above_contexts(ctx[significant], weight_class[significant], channel)
    big = significant[np.flatnonzero(coder.decode(ABOVE_ONE, above))]
    contexts = _exp_golomb_contexts(weight_class[big], channel)
    magnitude[big] = 2 + decode_exp_golomb(coder, big.size, *contexts, MAX_PREFIX)
    return magnitude


def _prefix_contexts(weight_class: np.ndarray, position: int, channel: int) -> np.ndarray:
    return (channel * 4 + weight_class // 4) * _PREFIX_POSITIONS + min(
        position, _PREFIX_POSITIONS - 1
    )


def _suffix_contexts(length: np.ndarray, position: int, channel: int) -> np.ndarray:
    return channel * _SUFFIX_POSITIONS + np.minimum(length - 1 - position, _SUFFIX_POSITIONS - 1)


def _exp_golomb_contexts(weight_class: np.ndarray, channel: int):
    """The prefix and suffix models of :mod:`nmc.entropy.binarize` with their contexts, for
    values whose weight classes are ``weight_class``."""

    def prefix(alive: np.ndarray, position: int) -> np.ndarray:
        return _prefix_contexts(weight_class[alive], position, channel)

    def suffix(chosen: np.ndarray, length: np.ndarray, bit: int) -> np.ndarray:
        return _suffix_contexts(length, bit, channel)

    return (PREFIX, prefix), (SUFFIX, suffix)
