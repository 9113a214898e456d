"""Entropy coding of a P frame's transform residual (:mod:`nmc.video.transform`).

Every symbol is binary, coded with :mod:`nmc.entropy.adaptive` under contexts whose
statistics carry from one P frame to the next within a group (the caller's coder carries
them), so a clip's typical levels are learnt once per group:

* the step index: six bits, most significant first, a context each (steps move little from
  frame to frame);
* per plane (Y, Cb, Cr), the coded-block flags in two checkerboard passes like the motion
  flags (anchors; then the others by their coded neighbours, 0..4); a chroma block's context
  also knows whether its luma block is coded;
* per plane and coded block, the zig-zag scan position of its last non-zero level, in
  Exp-Golomb (contexts per luma / chroma), then the significance of the levels before it, a
  context per scan position (luma 64, chroma 16, pooled four by four for a prior): a block
  whose error is smooth codes one or two low frequencies, and the zeros after them cost
  nothing (coding all 64 flags cost two thirds of a frame's transform bits on carphone);
* per non-zero level, in the same order: ``|level| > 1`` (context: luma / chroma x one of
  four frequency bands), the sign, and ``|level| - 2`` in Exp-Golomb for those above one
  (contexts per luma / chroma, :func:`nmc.entropy.binarize.classed_contexts`).
"""

from __future__ import annotations

import functools

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel
from nmc.entropy.binarize import (
    Binarization,
    classed_contexts,
    decode_exp_golomb,
    encode_exp_golomb,
)
from nmc.errors import BitstreamError
from nmc.video.grid_flags import NEIGHBOUR_CLASSES, read_grid_flags, write_grid_flags
from nmc.video.transform import BLOCK_SIDES, MAX_LEVEL, MAX_STEP_INDEX, TransformResidual

_STEP_BITS = 6
_BANDS = 4
_PREFIX_POSITIONS, _SUFFIX_LENGTHS, _SUFFIX_BITS = 5, 4, 4
MAX_PREFIX = 12  # |level| - 2 < 2**12
_MODEL = {"first_block": 8, "last_block": 256, "halve_at": 16 * 512}
STEP = ContextModel("transform step", _STEP_BITS, **_MODEL)
CODED = ContextModel("transform coded", 2 * 2 * NEIGHBOUR_CLASSES, **_MODEL)
SIGNIFICANT = ContextModel(
    "transform significant", BLOCK_SIDES[0] ** 2 + BLOCK_SIDES[1] ** 2, share=4, **_MODEL
)
GREATER = ContextModel("transform greater than one", 2 * _BANDS, **_MODEL)
SIGN = ContextModel("transform sign", 2, **_MODEL)
PREFIX = ContextModel("transform prefix", 2 * _PREFIX_POSITIONS, **_MODEL)
SUFFIX = ContextModel("transform suffix", 2 * _SUFFIX_LENGTHS * _SUFFIX_BITS, **_MODEL)
LAST_PREFIX = ContextModel("transform last prefix", 2 * _PREFIX_POSITIONS, **_MODEL)
LAST_SUFFIX = ContextModel("transform last suffix", 2 * _SUFFIX_LENGTHS * _SUFFIX_BITS, **_MODEL)
_LAST_PREFIX = 6  # scan positions < 64 = 2**6


def max_symbols(rows: int, cols: int) -> int:
    """The most symbols a transform residual on a ``rows x cols`` block grid may hold."""
    per_level = 3 + 2 * MAX_PREFIX + 1  # significance, greater, sign, Exp-Golomb bins
    per_block = 1 + 2 * _LAST_PREFIX + 1  # coded flag, last position
    return _STEP_BITS + sum(rows * cols * (per_block + n * n * per_level) for n in BLOCK_SIDES)


@functools.cache
def zigzag(n: int) -> np.ndarray:
    """int64 ``[n * n]``: raster indexes of an ``n x n`` block in zig-zag scan order."""
    i, j = np.indices((n, n)).reshape(2, -1)
    diagonal = i + j
    order = np.lexsort((np.where(diagonal % 2 == 1, i, -i), diagonal))
    return order.astype(np.int64)


def _bands(n: int) -> np.ndarray:
    """int64 ``[n * n]``: frequency band of each scan position (DC, 1-2, 3-9, the rest)."""
    scan = np.arange(n * n)
    return np.select([scan == 0, scan < 3, scan < 10], [0, 1, 2], 3)


def _plane_class(plane: int) -> int:
    return 0 if plane == 0 else 1


def _significance_contexts(plane: int, last: np.ndarray) -> np.ndarray:
    """Contexts of the significance flags before each block's ``last`` position, in order."""
    offset = 0 if plane == 0 else BLOCK_SIDES[0] ** 2
    before = np.arange(BLOCK_SIDES[plane] ** 2) < last[:, None]
    return (offset + np.nonzero(before)[1]).astype(np.int64)


def _binarization(classes: np.ndarray, last: bool = False) -> Binarization:
    prefix, suffix = (LAST_PREFIX, LAST_SUFFIX) if last else (PREFIX, SUFFIX)
    return classed_contexts(
        prefix, suffix, classes, _PREFIX_POSITIONS, _SUFFIX_LENGTHS, _SUFFIX_BITS
    )


def write_coefficients(coder: AdaptiveEncoder, residual: TransformResidual) -> None:
    """Code ``residual`` with ``coder`` (statistics as the group's previous P frames left)."""
    index = residual.step_index
    coder.encode(STEP, [index >> b & 1 for b in reversed(range(_STEP_BITS))], range(_STEP_BITS))
    coded = [plane.reshape(*plane.shape[:2], -1).any(-1) for plane in residual.levels]
    scanned, classes, bands = [], [], []
    for plane, levels in enumerate(residual.levels):
        luma = coded[0] if plane else None
        write_grid_flags(coder, CODED, coded[plane], _plane_class(plane), luma)
        n = BLOCK_SIDES[plane]
        values = levels[coded[plane]].reshape(-1, n * n)[:, zigzag(n)]
        nonzero = values != 0
        last = n * n - 1 - np.argmax(nonzero[:, ::-1], axis=1)
        kind = np.full(len(last), _plane_class(plane))
        encode_exp_golomb(coder, last, *_binarization(kind, last=True))
        before = np.arange(n * n) < last[:, None]
        coder.encode(SIGNIFICANT, nonzero[before], _significance_contexts(plane, last))
        scanned.append(values[nonzero])
        classes.append(np.full(int(nonzero.sum()), _plane_class(plane)))
        bands.append(np.broadcast_to(_bands(n), values.shape)[nonzero])
    _write_levels(coder, np.concatenate(scanned), np.concatenate(classes), np.concatenate(bands))


def _write_levels(
    coder: AdaptiveEncoder, values: np.ndarray, classes: np.ndarray, bands: np.ndarray
) -> None:
    magnitude = np.abs(values)
    coder.encode(GREATER, magnitude > 1, classes * _BANDS + bands)
    coder.encode(SIGN, values < 0, classes)
    large = magnitude > 1
    encode_exp_golomb(coder, magnitude[large] - 2, *_binarization(classes[large]))


def read_coefficients(coder: AdaptiveDecoder, rows: int, cols: int) -> TransformResidual:
    """The residual :func:`write_coefficients` coded on a ``rows x cols`` block grid;
    damaged data raises :class:`BitstreamError`."""
    bins = coder.decode(STEP, np.arange(_STEP_BITS))
    index = int(sum(int(b) << (_STEP_BITS - 1 - k) for k, b in enumerate(bins)))
    if index > MAX_STEP_INDEX:
        raise BitstreamError("P frame transform residual: step out of range (damaged data)")
    coded, significant, classes, bands = [], [], [], []
    for plane, n in enumerate(BLOCK_SIDES):
        luma = coded[0] if plane else None
        known = read_grid_flags(coder, CODED, rows, cols, _plane_class(plane), luma)
        coded.append(known)
        kind = np.full(int(known.sum()), _plane_class(plane))
        last = decode_exp_golomb(coder, kind.size, *_binarization(kind, last=True), _LAST_PREFIX)
        if last.size and last.max() >= n * n:
            raise BitstreamError("P frame transform residual: last position out of range")
        before = np.arange(n * n) < last[:, None]
        flags = np.zeros(before.shape, dtype=bool)
        flags[before] = coder.decode(SIGNIFICANT, _significance_contexts(plane, last)) == 1
        flags[np.arange(kind.size), last] = True
        significant.append(flags)
        classes.append(np.full(int(flags.sum()), _plane_class(plane)))
        bands.append(np.broadcast_to(_bands(n), flags.shape)[flags])
    values = _read_levels(coder, np.concatenate(classes), np.concatenate(bands))
    levels, start = [], 0
    for plane, n in enumerate(BLOCK_SIDES):
        scan = np.zeros(significant[plane].shape, dtype=np.int64)
        stop = start + int(significant[plane].sum())
        scan[significant[plane]] = values[start:stop]
        start = stop
        plane_levels = np.zeros((rows, cols, n * n), dtype=np.int64)
        raster = np.empty_like(scan)
        raster[:, zigzag(n)] = scan
        plane_levels[coded[plane]] = raster
        levels.append(plane_levels.reshape(rows, cols, n, n))
    return TransformResidual(index, tuple(levels))


def _read_levels(coder: AdaptiveDecoder, classes: np.ndarray, bands: np.ndarray) -> np.ndarray:
    greater = coder.decode(GREATER, classes * _BANDS + bands) == 1
    negative = coder.decode(SIGN, classes) == 1
    magnitude = np.ones(classes.size, dtype=np.int64)
    large = np.flatnonzero(greater)
    magnitude[large] = 2 + decode_exp_golomb(
        coder, large.size, *_binarization(classes[large]), MAX_PREFIX
    )
    if magnitude.size and magnitude.max() > MAX_LEVEL:
        raise BitstreamError("P frame transform residual: level out of range (damaged data)")
    return np.where(negative, -magnitude, magnitude)
