"""Entropy coding of a P frame's motion differences with adaptive binary contexts.

The values are int64 ``[rows, cols, 2]`` (x, y; quarter pixels): a frame's vectors minus
their prediction (the previous frame's vectors or the spatial median,
:mod:`nmc.video.motion`). Each component is binarized as *non-zero* flag, sign, and
``|v| - 1`` in order-0 Exp-Golomb (:mod:`nmc.entropy.binarize`), every bin coded with
:mod:`nmc.entropy.adaptive`. The statistics carry over from one P frame to the next within a
group (the caller's coder carries them), so a clip's typical steps —
mostly zero, quarter-pixel jitter, whole pixels — are learnt once per group instead of being
described by a scale per frame.

Contexts (all from already decoded values, so each pass decodes in one call):

* non-zero flags go in two checkerboard passes per component, x then y: blocks with even
  ``row + col`` first (one context), then the others, whose context counts the non-zero
  values among their four decoded neighbours (0..4); y's flags also know whether the same
  block's x is non-zero (when one component of a vector changes the other often does);
* signs: one context per component;
* Exp-Golomb prefix flags: component x position (capped); suffix bits: component x prefix
  length (capped) x bit position (capped) — whole-pixel steps (4, 8 quarter pixels) end in
  zero bits, which these contexts learn.

Bits per value versus the per-frame Laplace code this replaces are in docs/video.md.
"""

from __future__ import annotations

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel
from nmc.entropy.binarize import (
    Binarization,
    classed_contexts,
    decode_exp_golomb,
    encode_exp_golomb,
)
from nmc.video.grid_flags import NEIGHBOUR_CLASSES, read_grid_flags, write_grid_flags

_PREFIX_POSITIONS = 5
_SUFFIX_LENGTHS, _SUFFIX_BITS = 4, 4
# |v| - 1 < 2**12 covers every vector step (|step| <= 2 * 256 quarter pixels)
MAX_PREFIX = 12
# at most: 2 flags, a sign, 2 * (MAX_PREFIX + 1) Exp-Golomb bins per value
MAX_SYMBOLS_PER_VALUE = 2 * MAX_PREFIX + 5
_MODEL = {"first_block": 8, "last_block": 256, "halve_at": 16 * 512}
NONZERO = ContextModel("motion non-zero", 2 * 2 * NEIGHBOUR_CLASSES, **_MODEL)
SIGN = ContextModel("motion sign", 2, **_MODEL)
PREFIX = ContextModel("motion prefix", 2 * _PREFIX_POSITIONS, **_MODEL)
SUFFIX = ContextModel("motion suffix", 2 * _SUFFIX_LENGTHS * _SUFFIX_BITS, **_MODEL)


def _component_major(values: np.ndarray) -> np.ndarray:
    """``[rows, cols, 2]`` flattened component-major: all x values, then all y values."""
    return values.reshape(-1, 2).T.reshape(-1)


def _binarization(component: np.ndarray) -> Binarization:
    return classed_contexts(
        PREFIX, SUFFIX, component, _PREFIX_POSITIONS, _SUFFIX_LENGTHS, _SUFFIX_BITS
    )


def write_motion(coder: AdaptiveEncoder, values: np.ndarray) -> None:
    """Code int64 ``values`` ``[rows, cols, 2]`` with ``coder``, whose statistics (updated)
    are the ones the previous P frames of the group left."""
    values = np.asarray(values, dtype=np.int64)
    rows, cols = values.shape[:2]
    nonzero = values != 0
    for component in (0, 1):
        x_nonzero = nonzero[..., 0] if component else None
        write_grid_flags(coder, NONZERO, nonzero[..., component], component, x_nonzero)
    flat = _component_major(values)
    which = np.flatnonzero(flat)
    component = which // (rows * cols)
    coded = flat[which]
    coder.encode(SIGN, coded < 0, component)
    encode_exp_golomb(coder, np.abs(coded) - 1, *_binarization(component))


def read_motion(coder: AdaptiveDecoder, rows: int, cols: int) -> np.ndarray:
    """The int64 ``[rows, cols, 2]`` values :func:`write_motion` coded, read with ``coder``
    (statistics as the encoder's, updated); damaged data raises
    :class:`nmc.errors.BitstreamError`."""
    nonzero = np.zeros((rows, cols, 2), dtype=bool)
    for component in (0, 1):
        x_nonzero = nonzero[..., 0] if component else None
        nonzero[..., component] = read_grid_flags(coder, NONZERO, rows, cols, component, x_nonzero)
    which = np.flatnonzero(_component_major(nonzero))
    component = which // (rows * cols)
    negative = coder.decode(SIGN, component) == 1
    magnitude = 1 + decode_exp_golomb(coder, which.size, *_binarization(component), MAX_PREFIX)
    flat = np.zeros(2 * rows * cols, dtype=np.int64)
    flat[which] = np.where(negative, -magnitude, magnitude)
    return flat.reshape(2, rows, cols).transpose(1, 2, 0).copy()
