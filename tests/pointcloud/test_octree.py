"""Morton codes, octree levels and face-neighbour tables against brute force."""

from __future__ import annotations

import numpy as np

from nmc.pointcloud.morton import morton_decode, morton_encode
from nmc.pointcloud.octree import FACE_DIRECTIONS, Octree, child_codes


def test_morton_round_trip_and_child_index():
    rng = np.random.default_rng(0)
    xyz = rng.integers(0, 1 << 21, (5000, 3))
    np.testing.assert_array_equal(morton_decode(morton_encode(xyz)), xyz)
    unit = morton_encode(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]))
    np.testing.assert_array_equal(unit, [4, 2, 1, 7])


def test_octree_levels_and_neighbours():
    rng = np.random.default_rng(1)
    xyz = np.unique(rng.integers(0, 16, (700, 3)), axis=0)
    tree = Octree.from_leaves(np.sort(morton_encode(xyz)), 4)
    assert tree.codes[0].tolist() == [0]
    for level in range(4):
        np.testing.assert_array_equal(
            child_codes(tree.codes[level], tree.occupancy[level]), tree.codes[level + 1]
        )
        coords = morton_decode(tree.codes[level])
        known = {tuple(p): i for i, p in enumerate(coords.tolist())}
        for column, (axis, sign) in enumerate(FACE_DIRECTIONS):
            moved = coords.copy()
            moved[:, axis] += sign
            expected = [known.get(tuple(p), -1) for p in moved.tolist()]
            np.testing.assert_array_equal(tree.neighbours[level][:, column], expected)
    assert int(tree.weights()[0][0]) == len(xyz)
