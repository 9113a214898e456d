"""Point-cloud coding: lossless octree geometry, RAHT colours at G-PCC QPs, I/O.

Public API::

    cloud = nmc.pointcloud.read_cloud("scan.pcd", bits=10)      # PointCloud(xyz int32, rgb uint8)
    data = nmc.pointcloud.encode_cloud(cloud, qp=34)             # whole .nmc file bytes
    dec = nmc.pointcloud.decode_cloud(data)                      # DecodedCloud, Morton order
    nmc.pointcloud.write_ply("out.ply", dec.xyz, dec.rgb)

Names load on first use, so importing the package (e.g. for the MS-GAT CLI plug-in) stays
light.
"""

from __future__ import annotations

from nmc._lazy import lazy_exports

_EXPORTS = {
    "DecodedCloud": "nmc.pointcloud.cloud",
    "PointCloud": "nmc.pointcloud.cloud",
    "SourceInfo": "nmc.pointcloud.io",
    "load_cloud": "nmc.pointcloud.io",
    "read_cloud": "nmc.pointcloud.io",
    "voxelize": "nmc.pointcloud.io",
    "write_ply": "nmc.pointcloud.io",
    "encode_cloud": "nmc.pointcloud.cloud_codec",
    "encode_cloud_with_stats": "nmc.pointcloud.cloud_codec",
    "decode_cloud": "nmc.pointcloud.cloud_codec",
    "qp_step": "nmc.pointcloud.qp",
    "rgb_to_ycbcr": "nmc.media.ycbcr",
    "ycbcr_to_rgb": "nmc.media.ycbcr",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
