"""RAHT on sparse Morton lists: exact inverse, orthonormality, DC, QP table."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.errors import InputError
from nmc.pointcloud.morton import morton_encode
from nmc.pointcloud.octree import Octree
from nmc.pointcloud.qp import qp_step
from nmc.pointcloud.raht import forward_level, inverse_level, plan_level


def _tree(points: int, side: int, seed: int) -> Octree:
    rng = np.random.default_rng(seed)
    xyz = np.unique(rng.integers(0, side, (points, 3)), axis=0)
    depth = int(side - 1).bit_length()
    return Octree.from_leaves(np.sort(morton_encode(xyz)), depth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raht_inverse_is_exact_and_orthonormal(seed):
    tree = _tree(3000, 64, seed)
    weights = tree.weights()
    values = np.random.default_rng(seed).uniform(0, 255, (tree.points, 3))
    plans, highs, c = [], [], values
    for level in range(tree.depth - 1, -1, -1):
        plan = plan_level(tree.codes[level + 1], weights[level + 1])
        c, high = forward_level(plan, c)
        plans.append(plan)
        highs.append(high)
    assert sum(h.shape[0] for h in highs) == tree.points - 1
    np.testing.assert_allclose(c[0], np.sqrt(tree.points) * values.mean(axis=0))
    energy = sum((h**2).sum() for h in highs) + (c**2).sum()
    np.testing.assert_allclose(energy, (values**2).sum(), rtol=1e-12)
    for plan, high in zip(plans[::-1], highs[::-1]):
        c = inverse_level(plan, c, high)
    np.testing.assert_allclose(c, values, atol=1e-9)


def test_raht_inverse_is_exact_for_quantized_coefficients():
    """The decoder inverts whatever coefficients it reads: quantize, invert, re-transform."""
    tree = _tree(800, 32, 5)
    weights = tree.weights()
    plan = plan_level(tree.codes[tree.depth], weights[tree.depth])
    values = np.random.default_rng(3).uniform(0, 255, (tree.points, 3))
    parent, high = forward_level(plan, values)
    high_q = np.round(high / 8.0) * 8.0
    rebuilt = inverse_level(plan, parent, high_q)
    parent2, high2 = forward_level(plan, rebuilt)
    np.testing.assert_allclose(high2, high_q, atol=1e-9)
    np.testing.assert_allclose(parent2, parent, atol=1e-9)


def test_qp_step_table():
    assert qp_step(4) == 1.0
    assert [qp_step(q) for q in range(4, 10)] == [1.0, 287 / 256, 161 / 128, 181 / 128,
                                                  203 / 128, 228 / 128]  # fmt: skip
    assert qp_step(22) == 8.0
    assert qp_step(51) == (228 << 8) / 256
    for qp in range(4, 58):
        assert qp_step(qp + 6) == 2 * qp_step(qp)
        assert abs(np.log2(qp_step(qp)) - (qp - 4) / 6) < 0.02


@pytest.mark.parametrize("qp", [3, 64, -1, 2.5, "34", True])
def test_bad_qp_is_refused(qp):
    with pytest.raises(InputError):
        qp_step(qp)
