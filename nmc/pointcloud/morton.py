"""Morton (z-order) codes of voxel coordinates: 21 bits per axis interleaved into an int64.

A code's bits, from the most significant, are ``x_k y_k z_k`` for ``k = 20 .. 0``, so the
three low bits of a code are the child index ``4 x + 2 y + z`` of the voxel inside its parent
(G-PCC's child numbering) and ``code >> 3`` is the parent's code. Sorting by code lists the
voxels of every octree node contiguously, children in child-index order.
"""

from __future__ import annotations

import numpy as np

MAX_BITS = 21
_SPREAD = (
    (32, 0x1F00000000FFFF),
    (16, 0x1F0000FF0000FF),
    (8, 0x100F00F00F00F00F),
    (4, 0x10C30C30C30C30C3),
    (2, 0x1249249249249249),
)


def _spread(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits above each of the 21 low bits of ``v`` (uint64)."""
    v = v & np.uint64(0x1FFFFF)
    for shift, mask in _SPREAD:
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def _compact(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_spread`: gather every third bit of ``v`` (uint64) into 21 bits."""
    v = v & np.uint64(_SPREAD[-1][1])
    masks = [mask for _, mask in _SPREAD[:-1]][::-1] + [0x1FFFFF]
    shifts = [shift for shift, _ in _SPREAD][::-1]
    for shift, mask in zip(shifts, masks):
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v


def morton_encode(xyz: np.ndarray) -> np.ndarray:
    """Codes (int64 [N]) of non-negative integer coordinates ``xyz`` ([N, 3], each < 2**21)."""
    v = np.asarray(xyz).astype(np.uint64)
    code = (_spread(v[:, 0]) << np.uint64(2)) | (_spread(v[:, 1]) << np.uint64(1))
    return (code | _spread(v[:, 2])).astype(np.int64)


def morton_decode(code: np.ndarray) -> np.ndarray:
    """Coordinates (int64 [N, 3]) of Morton codes (int64 [N])."""
    c = np.asarray(code).astype(np.uint64)
    out = np.empty((c.size, 3), dtype=np.int64)
    out[:, 0] = _compact(c >> np.uint64(2))
    out[:, 1] = _compact(c >> np.uint64(1))
    out[:, 2] = _compact(c)
    return out
