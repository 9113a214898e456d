"""Binary flags on a block grid, coded in two checkerboard passes with neighbour contexts.

The motion coder's non-zero flags (:mod:`nmc.video.motion_coder`) and the transform residual's
coded-block flags (:mod:`nmc.video.coefficient_coder`) are both a bool ``[rows, cols]`` grid
per family (a vector component, a plane class), optionally conditioned on another grid of the
same blocks. Each pass decodes in one call: the blocks with even ``row + col`` (the anchors)
first, all under one context, then the others, each under ``1 +`` its coded neighbours among
the four (0..4), which the anchors already gave. The context of a flag is
``(2 * family + condition) * NEIGHBOUR_CLASSES + class``, so a model for ``F`` families needs
``2 * F * NEIGHBOUR_CLASSES`` contexts.
"""

from __future__ import annotations

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel

NEIGHBOUR_CLASSES = 6  # anchors, then 0..4 flagged neighbours


def checkerboard(rows: int, cols: int) -> np.ndarray:
    """bool ``[rows, cols]``: the first checkerboard pass (even ``row + col``)."""
    r, c = np.indices((rows, cols))
    return (r + c) % 2 == 0


def neighbour_counts(flags: np.ndarray) -> np.ndarray:
    """int64 ``[rows, cols]``: set flags among each block's 4 neighbours."""
    padded = np.pad(flags.astype(np.int64), 1)
    return padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]


def _contexts(
    family: int, mask: np.ndarray, anchors: np.ndarray, known: np.ndarray, condition: np.ndarray
) -> np.ndarray:
    """Contexts of the flags at ``mask`` (anchors: class 0; others: 1 + their set neighbours
    in ``known``, the anchors' flags)."""
    neighbour = np.where(anchors, 0, 1 + neighbour_counts(known))
    base = (2 * family + condition.astype(np.int64)) * NEIGHBOUR_CLASSES
    return (base + neighbour)[mask]


def write_grid_flags(
    coder: AdaptiveEncoder,
    model: ContextModel,
    flags: np.ndarray,
    family: int,
    condition: np.ndarray | None = None,
) -> None:
    """Code bool ``flags`` ``[rows, cols]`` of ``family`` (conditioned on bool ``condition``
    of the same shape, which the decoder must know; None: all false)."""
    anchors = checkerboard(*flags.shape)
    condition = np.zeros_like(anchors) if condition is None else condition
    known = np.where(anchors, flags, False)
    for mask in (anchors, ~anchors):
        coder.encode(model, flags[mask], _contexts(family, mask, anchors, known, condition))


def read_grid_flags(
    coder: AdaptiveDecoder,
    model: ContextModel,
    rows: int,
    cols: int,
    family: int,
    condition: np.ndarray | None = None,
) -> np.ndarray:
    """The bool ``[rows, cols]`` flags :func:`write_grid_flags` coded."""
    anchors = checkerboard(rows, cols)
    condition = np.zeros_like(anchors) if condition is None else condition
    known = np.zeros((rows, cols), dtype=bool)
    for mask in (anchors, ~anchors):  # anchors first
        known[mask] = coder.decode(model, _contexts(family, mask, anchors, known, condition)) == 1
    return known
