"""Reference point clouds for evaluation: voxelized geometry with 8-bit colours.

Float coordinates are voxelized the way the committed G-PCC anchor points were prepared
(``../shared/data/anchors/README.md``), so that every codec is measured on the same point set:
drop non-finite points, ``lo = xyz.min(0)``, ``scale = (2**bits - 1) / (xyz.max(0) - lo).max()``,
``v = round((xyz - lo) * scale)``; points sharing a voxel are merged by averaging their colours
(open3d colours in [0, 1]) and ``rgb = clip(round(mean * 255), 0, 255)``. Clouds whose
coordinates are already integers (MPEG 8iVFB stores them as ``float``) are kept exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmc.bitstream import atomic_write_bytes
from nmc.errors import DependencyError, InputError


@dataclass(frozen=True)
class Cloud:
    """A voxelized point cloud.

    Attributes:
        xyz: int32 ``[N,3]`` voxel coordinates, unique.
        rgb: uint8 ``[N,3]`` colours.
    """

    xyz: np.ndarray
    rgb: np.ndarray

    @property
    def points(self) -> int:
        return int(self.xyz.shape[0])


def voxelize(xyz: np.ndarray, colours: np.ndarray, bits: int = 10) -> Cloud:
    """Voxelize float points with colours in [0, 1] (see module docstring).

    Args:
        xyz: float ``[N,3]``; non-finite rows are dropped.
        colours: float ``[N,3]`` in [0, 1].
        bits: grid depth; the longest side of the bounding box spans ``2**bits - 1``.
    """
    finite = np.all(np.isfinite(xyz), axis=1)
    xyz, colours = np.asarray(xyz, np.float64)[finite], np.asarray(colours, np.float64)[finite]
    if len(xyz) == 0:
        raise InputError("the point cloud has no finite points")
    if np.array_equal(xyz, np.round(xyz)) and xyz.min() >= 0:
        voxels = xyz.astype(np.int64)
    else:
        low = xyz.min(axis=0)
        extent = float((xyz.max(axis=0) - low).max())
        scale = (2**bits - 1) / extent if extent > 0 else 1.0
        voxels = np.round((xyz - low) * scale).astype(np.int64)
    unique, inverse, counts = np.unique(voxels, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(unique), 3))
    np.add.at(sums, inverse, colours)
    rgb = np.clip(np.round(sums / counts[:, None] * 255.0), 0, 255).astype(np.uint8)
    return Cloud(xyz=unique.astype(np.int32), rgb=rgb)


@functools.lru_cache(maxsize=2)
def load_cloud(path: str, bits: int = 10) -> Cloud:
    """Read a ``.ply`` / ``.pcd`` with open3d and voxelize it (cached per process)."""
    try:
        import open3d
    except ImportError as exc:
        raise DependencyError("reading point clouds needs open3d (pip install open3d-cpu)") from exc
    if not Path(path).is_file():
        raise InputError(f"{path}: no such point-cloud file")
    cloud = open3d.io.read_point_cloud(str(path))
    xyz, colours = np.asarray(cloud.points), np.asarray(cloud.colors)
    if len(xyz) == 0:
        raise InputError(f"{path}: no points (not a readable .ply / .pcd?)")
    if colours.shape != xyz.shape:
        raise InputError(f"{path}: the cloud has no colours; attribute coding needs RGB")
    return voxelize(xyz, colours, bits)


def write_ply(path: str | Path, cloud: Cloud) -> None:
    """Write ``cloud`` as a binary little-endian PLY (float x, y, z; uchar red, green, blue)."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {cloud.points}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    record = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
    body = np.empty(cloud.points, dtype=record)
    body["xyz"], body["rgb"] = cloud.xyz, cloud.rgb
    atomic_write_bytes(path, header.encode("ascii") + body.tobytes())


def read_ply_cloud(path: str | Path) -> Cloud:
    """Read a decoded PLY (e.g. tmc3's reconstruction) as integer voxels and uint8 colours."""
    try:
        import open3d
    except ImportError as exc:
        raise DependencyError("reading point clouds needs open3d (pip install open3d-cpu)") from exc
    cloud = open3d.io.read_point_cloud(str(path))
    xyz, colours = np.asarray(cloud.points), np.asarray(cloud.colors)
    if len(xyz) == 0 or colours.shape != xyz.shape:
        raise InputError(f"{path}: expected a PLY with points and colours")
    rgb = np.clip(np.round(colours * 255.0), 0, 255).astype(np.uint8)
    return Cloud(xyz=np.round(xyz).astype(np.int32), rgb=rgb)
