"""The point-cloud value types: a voxelized input cloud and a decoded one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.errors import InputError


@dataclass(frozen=True)
class PointCloud:
    """A voxelized point cloud with 8-bit colours.

    Attributes:
        xyz: int32 ``[N, 3]`` voxel coordinates, one row per occupied voxel (no duplicates).
        rgb: uint8 ``[N, 3]`` R, G, B of each voxel.
    """

    xyz: np.ndarray
    rgb: np.ndarray

    @property
    def points(self) -> int:
        """Number of points N."""
        return int(self.xyz.shape[0])


@dataclass(frozen=True)
class DecodedCloud:
    """A decoded point cloud, points in Morton (z-order) order of their voxel coordinates.

    Attributes:
        xyz: int32 ``[N, 3]`` voxel coordinates; as a set, exactly the encoded cloud's.
        rgb: uint8 ``[N, 3]`` decoded R, G, B.
        step: float32 ``[N]`` effective quantization step of each point's luma, in 8-bit units
            (the MS-GAT post-filter's extra input).
        qp: the G-PCC QP of luma the colours were coded with.
        chroma_qp_offset: QP offset of the chroma channels.
        geometry_bits: size of the geometry chunk in bits.
        attribute_bits: size of the attribute chunk in bits.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    step: np.ndarray
    qp: int
    chroma_qp_offset: int
    geometry_bits: int
    attribute_bits: int

    @property
    def points(self) -> int:
        """Number of points N."""
        return int(self.xyz.shape[0])


def checked_cloud(cloud: PointCloud) -> PointCloud:
    """``cloud`` with contiguous int32 / uint8 arrays; :class:`InputError` when malformed."""
    xyz, rgb = np.asarray(cloud.xyz), np.asarray(cloud.rgb)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != xyz.shape:
        raise InputError(
            f"a point cloud needs xyz [N,3] and rgb [N,3], got {xyz.shape} and {rgb.shape}"
        )
    if xyz.shape[0] == 0:
        raise InputError("the point cloud is empty; nothing to encode")
    if not np.issubdtype(xyz.dtype, np.integer) or rgb.dtype != np.uint8:
        raise InputError(
            f"xyz must be integer voxel coordinates and rgb uint8, got {xyz.dtype} / {rgb.dtype}; "
            "use nmc.pointcloud.voxelize for float points"
        )
    return PointCloud(xyz=np.ascontiguousarray(xyz, dtype=np.int32), rgb=np.ascontiguousarray(rgb))
