"""Octree of a voxel set in Morton order: node codes and occupancy bytes per level.

Level ``l`` (0 = root, ``depth`` = voxels) holds the sorted Morton codes of its occupied
nodes; a node's occupancy byte has bit ``k`` set when its child with index ``k`` (``4 x + 2 y
+ z``, see :mod:`nmc.pointcloud.morton`) is occupied. Children are listed parent by parent in
child-index order, which is Morton order at every level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.pointcloud.morton import MAX_BITS

# Bit masks of the x, y and z bits of a Morton code (x is the highest bit of each triple).
_AXIS_MASKS = tuple(sum(1 << (3 * i + shift) for i in range(MAX_BITS)) for shift in (2, 1, 0))
# Face directions, in the column order of :func:`face_neighbours`: -x, +x, -y, +y, -z, +z.
FACE_DIRECTIONS = ((0, -1), (0, 1), (1, -1), (1, 1), (2, -1), (2, 1))


def parent_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, parent_codes)`` of sorted child codes: where each parent's children begin."""
    parents = codes >> 3
    new = np.ones(codes.size, dtype=bool)
    new[1:] = parents[1:] != parents[:-1]
    starts = np.flatnonzero(new)
    return starts, parents[starts]


def build_levels(leaf_codes: np.ndarray, depth: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Node codes and occupancy bytes of every level of the octree over sorted unique leaves.

    Args:
        leaf_codes: int64 ``[N]`` sorted unique Morton codes of the voxels (< 8**depth).
        depth: number of levels below the root.

    Returns:
        ``(codes, occupancy)``: ``codes[l]`` int64 ``[N_l]`` for l = 0..depth (``codes[0] ==
        [0]``), ``occupancy[l]`` uint8 ``[N_l]`` for l = 0..depth-1.
    """
    codes: list[np.ndarray] = [np.zeros(0, np.int64)] * (depth + 1)
    occupancy: list[np.ndarray] = [np.zeros(0, np.uint8)] * depth
    codes[depth] = leaf_codes
    for level in range(depth - 1, -1, -1):
        child = codes[level + 1]
        starts, parents = parent_groups(child)
        bits = np.left_shift(1, (child & 7)).astype(np.uint8)
        occupancy[level] = np.bitwise_or.reduceat(bits, starts)
        codes[level] = parents
    return codes, occupancy


def child_codes(codes: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
    """Sorted codes (int64) of the occupied children of nodes ``codes`` with ``occupancy``."""
    bits = np.unpackbits(occupancy[:, None], axis=1, bitorder="little")
    node, child = np.nonzero(bits)
    return (codes[node] << 3) | child


def shifted_codes(
    codes: np.ndarray, axis: int, sign: int, level: int
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the face neighbours one step along ``axis`` (``sign`` = ±1) at ``level``.

    Returns ``(neighbour_codes int64 [N], inside bool [N])``; ``inside`` is False where the
    step leaves the ``2**level`` grid (those codes are meaningless).
    """
    mask = np.int64(_AXIS_MASKS[axis] & ((1 << (3 * level)) - 1))
    part = codes & mask
    rest = codes & ~mask
    if sign > 0:
        inside = part != mask
        moved = ((codes | ~mask) + 1) & mask
    else:
        inside = part != 0
        moved = (part - 1) & mask
    return moved | rest, inside


def lookup(codes: np.ndarray, queries: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Index in sorted ``codes`` of each query code, -1 where absent or not ``valid``."""
    if codes.size == 0:
        return np.full(queries.shape, -1, dtype=np.int64)
    pos = np.searchsorted(codes, queries)
    np.minimum(pos, codes.size - 1, out=pos)
    found = valid & (codes[pos] == queries)
    return np.where(found, pos, -1)


def face_neighbours(codes: np.ndarray, level: int) -> np.ndarray:
    """int32 ``[N, 6]``: index of each node's face neighbour (-x, +x, -y, +y, -z, +z), or -1."""
    out = np.empty((codes.size, 6), dtype=np.int32)
    for column, (axis, sign) in enumerate(FACE_DIRECTIONS):
        queries, inside = shifted_codes(codes, axis, sign, level)
        out[:, column] = lookup(codes, queries, inside)
    return out


@dataclass(frozen=True)
class Octree:
    """The octree of a voxel set.

    Attributes:
        depth: levels below the root.
        codes: ``depth + 1`` sorted int64 arrays, the node codes of levels 0 (root) .. depth.
        occupancy: ``depth`` uint8 arrays, the occupancy bytes of levels 0 .. depth-1.
        neighbours: ``depth`` int32 ``[N_l, 6]`` face-neighbour tables (see
            :func:`face_neighbours`) of levels 0 .. depth-1.
    """

    depth: int
    codes: tuple[np.ndarray, ...]
    occupancy: tuple[np.ndarray, ...]
    neighbours: tuple[np.ndarray, ...]

    @classmethod
    def from_leaves(cls, leaf_codes: np.ndarray, depth: int) -> Octree:
        """The octree over sorted unique leaf Morton codes (< 8**depth)."""
        codes, occupancy = build_levels(leaf_codes, depth)
        neighbours = [face_neighbours(codes[level], level) for level in range(depth)]
        return cls(depth, tuple(codes), tuple(occupancy), tuple(neighbours))

    @property
    def points(self) -> int:
        return int(self.codes[self.depth].size)

    def weights(self) -> list[np.ndarray]:
        """int64 arrays, levels 0 .. depth: the number of points under each node."""
        out = [np.ones(self.points, dtype=np.int64)]
        for level in range(self.depth - 1, -1, -1):
            starts, _ = parent_groups(self.codes[level + 1])
            out.append(np.add.reduceat(out[-1], starts))
        return out[::-1]

    def parent_index(self, level: int) -> np.ndarray:
        """int64 ``[N_level]``: index at ``level - 1`` of each node's parent (level >= 1)."""
        starts, _ = parent_groups(self.codes[level])
        flags = np.zeros(self.codes[level].size, dtype=np.int64)
        flags[starts] = 1
        return np.cumsum(flags) - 1
