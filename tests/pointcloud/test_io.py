"""Reading, voxelizing and writing point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.errors import InputError
from nmc.pointcloud import load_cloud, read_cloud, voxelize, write_ply
from nmc.pointcloud.io import ply_bytes


def _anchor_recipe(xyz: np.ndarray, colours: np.ndarray, bits: int) -> dict:
    """The anchors README's preparation, written out plainly."""
    xyz = xyz[np.isfinite(xyz).all(axis=1)]
    colours = colours[: len(xyz)]
    lo = xyz.min(axis=0)
    scale = (2**bits - 1) / (xyz.max(axis=0) - lo).max()
    v = np.round((xyz - lo) * scale).astype(int)
    merged: dict = {}
    for key, colour in zip(map(tuple, v), colours):
        merged.setdefault(key, []).append(colour)
    return {
        k: np.clip(np.round(np.mean(c, axis=0) * 255), 0, 255).astype(np.uint8)
        for k, c in merged.items()
    }


def test_voxelize_follows_the_anchor_recipe():
    rng = np.random.default_rng(0)
    xyz = rng.normal(0, 1.3, (4000, 3))
    colours = rng.uniform(0, 1, (4000, 3))
    cloud, dropped, exact = voxelize(xyz, colours, bits=5)
    assert dropped == 0 and not exact
    expected = _anchor_recipe(xyz, colours, 5)
    assert cloud.points == len(expected)
    got = {tuple(p): c for p, c in zip(cloud.xyz.tolist(), cloud.rgb)}
    assert got.keys() == expected.keys()
    for key, colour in expected.items():
        np.testing.assert_array_equal(got[key], colour)


def test_voxelize_drops_non_finite_points_and_counts_them():
    xyz = np.array([[0.0, 0, 0], [np.nan, 1, 1], [1, 2, np.inf], [3.5, 1, 2]])
    cloud, dropped, _ = voxelize(xyz, np.full((4, 3), 0.5), bits=4)
    assert dropped == 2 and cloud.points == 2


def test_integer_coordinates_are_kept_exactly():
    xyz = np.array([[-3.0, 7, 100], [5, 7, 101], [5, 7, 101], [0, 0, 0]])
    colours = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0], [0.2, 0.4, 0.6]])
    cloud, _, exact = voxelize(xyz, colours, bits=8)
    assert exact
    assert sorted(map(tuple, cloud.xyz.tolist())) == [(-3, 7, 100), (0, 0, 0), (5, 7, 101)]
    merged = cloud.rgb[cloud.xyz.tolist().index([5, 7, 101])]
    np.testing.assert_array_equal(merged, [128, 128, 128])


def test_integer_coordinates_keep_their_depth_unless_a_grid_is_asked_for():
    rng = np.random.default_rng(4)
    xyz = np.unique(rng.integers(0, 1 << 14, (3000, 3)), axis=0).astype(np.float64)
    colours = rng.uniform(0, 1, xyz.shape)
    cloud, _, exact = voxelize(xyz, colours)
    assert exact and cloud.points == len(xyz)
    np.testing.assert_array_equal(_lex(cloud.xyz), _lex(xyz.astype(np.int32)))
    cloud, _, exact = voxelize(xyz, colours, bits=14)  # fits the asked grid: still exact
    assert exact and cloud.points == len(xyz)
    coarse, _, exact = voxelize(xyz, colours, bits=4)  # asked for: quantized, points merge
    assert not exact and coarse.xyz.max() == 15 and coarse.points < len(xyz)


def test_float_coordinates_go_on_the_default_10_bit_grid():
    rng = np.random.default_rng(5)
    xyz = rng.normal(0, 1, (5000, 3))
    cloud, _, exact = voxelize(xyz, rng.uniform(0, 1, xyz.shape))
    assert not exact and cloud.xyz.min() == 0 and cloud.xyz.max() == 1023


def test_integer_coordinates_beyond_the_21_bit_grid_need_a_depth():
    xyz = np.array([[0.0, 0, 0], [1 << 21, 5, 5], [3, 4, 5]])
    with pytest.raises(InputError, match="--bits"):
        voxelize(xyz, np.zeros((3, 3)))
    cloud, _, exact = voxelize(xyz, np.zeros((3, 3)), bits=21)
    assert not exact and cloud.points == 3


def _lex(xyz: np.ndarray) -> np.ndarray:
    return xyz[np.lexsort(xyz.T)]


@pytest.mark.parametrize("bits", [0, 22, -3, 2.5, "10"])
def test_bad_bits_are_refused(bits):
    with pytest.raises(InputError):
        voxelize(np.zeros((2, 3)), np.zeros((2, 3)), bits=bits)


def test_nan_only_and_empty_clouds_are_refused():
    with pytest.raises(InputError, match="finite"):
        voxelize(np.full((5, 3), np.nan), np.zeros((5, 3)))
    with pytest.raises(InputError):
        voxelize(np.zeros((0, 3)), np.zeros((0, 3)))


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(tmp_path, binary):
    rng = np.random.default_rng(2)
    xyz = np.unique(rng.integers(0, 1024, (500, 3)), axis=0).astype(np.int32)
    rgb = rng.integers(0, 256, xyz.shape).astype(np.uint8)
    path = tmp_path / "cloud.ply"
    write_ply(path, xyz, rgb, binary=binary)
    assert (b"binary_little_endian" in path.read_bytes()[:100]) == binary
    cloud, info = load_cloud(path, bits=10)
    assert info.kept_exact and info.dropped_points == 0
    order = np.lexsort(xyz.T)
    back = np.lexsort(cloud.xyz.T)
    np.testing.assert_array_equal(cloud.xyz[back], xyz[order])
    np.testing.assert_array_equal(cloud.rgb[back], rgb[order])


@pytest.mark.parametrize("mode", ["ascii", "binary", "compressed"])
def test_pcd_round_trip(tmp_path, mode):
    o3d = pytest.importorskip("open3d")
    rng = np.random.default_rng(3)
    xyz = np.unique(rng.integers(0, 200, (400, 3)), axis=0).astype(np.float64)
    rgb = rng.integers(0, 256, xyz.shape).astype(np.uint8)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
    pcd.colors = o3d.utility.Vector3dVector(rgb / 255.0)
    path = tmp_path / "cloud.pcd"
    o3d.io.write_point_cloud(
        str(path), pcd, write_ascii=mode == "ascii", compressed=mode == "compressed"
    )
    cloud = read_cloud(path, bits=8)
    back = np.lexsort(cloud.xyz.T)
    order = np.lexsort(xyz.T)
    np.testing.assert_array_equal(cloud.xyz[back], xyz[order].astype(np.int32))
    np.testing.assert_array_equal(cloud.rgb[back], rgb[order])


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such"):
        read_cloud(tmp_path / "missing.ply")
    with pytest.raises(InputError, match=r"\.ply or \.pcd"):
        read_cloud(tmp_path / "cloud.xyz")
    empty = tmp_path / "empty.ply"
    empty.write_bytes(ply_bytes(np.zeros((0, 3)), np.zeros((0, 3), np.uint8)))
    with pytest.raises(InputError, match="no points"):
        read_cloud(empty)
    garbage = tmp_path / "garbage.pcd"
    garbage.write_bytes(b"not a point cloud at all")
    with pytest.raises(InputError):
        read_cloud(garbage)
    colourless = tmp_path / "colourless.ply"
    colourless.write_text(
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n1 1 1\n"
    )
    with pytest.raises(InputError, match="colour"):
        read_cloud(colourless)
    nan_only = tmp_path / "nan.ply"
    nan_only.write_text(
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\nnan nan nan 1 2 3\nnan 0 0 1 2 3\n"
    )
    with pytest.raises(InputError, match="finite"):
        read_cloud(nan_only)


def test_real_scan_voxelizes_like_the_anchors(osd_dir):
    """The anchors file lists learn0 with 176413 voxels at 10 bits."""
    cloud, info = load_cloud(osd_dir / "learn0.pcd", bits=10)
    assert cloud.points == 176413
    assert info.source_points == 307200 and info.dropped_points == 124908
    assert cloud.xyz.min() == 0 and cloud.xyz.max() == 1023
