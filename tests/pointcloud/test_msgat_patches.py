"""Patch cover and blending of the MS-GAT pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.pointcloud.msgat.config import PatchConfig
from nmc.pointcloud.msgat.patches import iter_patches, kd_cores


def _surface(n: int, seed: int = 0) -> np.ndarray:
    """Unique voxels on a wavy surface, like a scanned tabletop."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 400, size=(3 * n, 2))
    z = (40 * np.sin(xy[:, :1] / 60.0) + 30 * np.cos(xy[:, 1:] / 45.0)).astype(np.int64) + 100
    pts = np.unique(np.concatenate([xy, z], axis=1), axis=0)
    return pts[rng.permutation(len(pts))[:n]].astype(np.int32)


def test_kd_cores_partition_every_point_once():
    xyz = _surface(5000)
    cores = kd_cores(xyz, 300)
    joined = np.sort(np.concatenate(cores))
    np.testing.assert_array_equal(joined, np.arange(5000))
    sizes = [c.size for c in cores]
    assert len(cores) == 17 and max(sizes) <= 300 and min(sizes) >= 5000 // 17 - 1


def test_patches_cover_every_point_exactly_once_and_blend_to_one():
    xyz = _surface(6000, seed=1)
    config = PatchConfig(patch_size=512, core_size=384, batch_patches=5)
    core_hits = np.zeros(len(xyz), dtype=np.int64)
    weight_sum = np.zeros(len(xyz))
    blended = np.zeros(len(xyz))
    for batch in iter_patches(xyz, config):
        assert batch.index.shape[1] == 512 and batch.weight.shape == batch.index.shape
        for row, w in zip(batch.index, batch.weight):
            assert len(np.unique(row)) == row.size  # no point twice in a patch
            core = w == 1.0
            assert core[0]  # cores come first
            np.add.at(core_hits, row[core], 1)
        np.add.at(weight_sum, batch.index.ravel(), batch.weight.ravel())
        # Blending a constant field must give back the constant everywhere.
        np.add.at(blended, batch.index.ravel(), 7.0 * batch.weight.ravel())
    assert core_hits.min() >= 1 and weight_sum.min() >= 1.0
    np.testing.assert_allclose(blended / weight_sum, 7.0)
    # Core membership: every point belongs to exactly one core (its own patch's).
    cores = kd_cores(xyz, 384)
    owner_count = np.zeros(len(xyz), dtype=np.int64)
    for core in cores:
        owner_count[core] += 1
    assert np.all(owner_count == 1)


def test_small_cloud_is_one_patch():
    xyz = _surface(100)
    batches = list(iter_patches(xyz, PatchConfig(patch_size=128, core_size=64)))
    assert len(batches) == 1
    np.testing.assert_array_equal(batches[0].index[0], np.arange(100))
    assert np.all(batches[0].weight == 1.0)


def test_bad_patch_config():
    with pytest.raises(ValueError):
        PatchConfig(patch_size=64, core_size=65)
    with pytest.raises(ValueError):
        kd_cores(np.zeros((3, 3)), 0)
