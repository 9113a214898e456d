"""Reading point clouds (``.ply`` / ``.pcd`` through open3d), voxelizing them, writing ``.ply``.

Voxelization never loses geometry it does not have to. Float coordinates are quantized the way
the G-PCC anchor points were prepared (``../shared/data/anchors/README.md``), so that rates and
PSNRs are comparable; integer coordinates (MPEG's 8iVFB stores integer voxels as ``float``)
are kept exactly at whatever depth they need:

1. drop points with non-finite coordinates (counted in :class:`SourceInfo`);
2. integer coordinates are kept as they are when no grid depth ``bits`` is asked for (up to
   the codec's 21-bit grid) or when their bounding box fits the asked grid (extent
   ``<= 2**bits - 1`` on every axis); float coordinates, and integers that do not fit an asked
   grid, are quantized: ``lo = xyz.min(0)``, ``scale = (2**bits - 1) / (xyz.max(0) - lo).max()``,
   ``v = round((xyz - lo) * scale)`` with ``bits`` = :data:`DEFAULT_BITS` unless asked;
3. merge points that share a voxel by averaging their colours (open3d colours in [0, 1]),
   ``rgb = clip(round(mean * 255), 0, 255)``. The voxels come out in Morton order, and
   :attr:`SourceInfo.merged_points` says how many input points were merged away.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmc.bitstream import atomic_write_bytes
from nmc.errors import DependencyError, InputError
from nmc.pointcloud.cloud import PointCloud
from nmc.pointcloud.morton import MAX_BITS, morton_decode, morton_encode

INPUT_SUFFIXES = (".ply", ".pcd")
DEFAULT_BITS = 10


@dataclass(frozen=True)
class SourceInfo:
    """What reading and voxelizing a file did.

    Attributes:
        path: the file read.
        source_points: points in the file.
        dropped_points: points dropped for non-finite coordinates.
        kept_exact: True when integer coordinates were kept as they are (no rescaling).
        points: voxels after merging duplicates.
        bits: depth of the grid: the asked or default depth of quantized coordinates, or the
            depth exact integer coordinates need (bits of their largest extent).
    """

    path: str
    source_points: int
    dropped_points: int
    kept_exact: bool
    points: int
    bits: int

    @property
    def merged_points(self) -> int:
        """Finite input points that were merged into a voxel another point already held."""
        return self.source_points - self.dropped_points - self.points


def check_bits(bits: object) -> int:
    """``bits`` as an int in [1, 21]; :class:`InputError` otherwise."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise InputError(f"bits must be an integer grid depth in [1, {MAX_BITS}], got {bits!r}")
    if not 1 <= int(bits) <= MAX_BITS:
        raise InputError(f"bits must be in [1, {MAX_BITS}] (default 10), got {bits}")
    return int(bits)


def _grid(xyz: np.ndarray, bits: int | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(voxels int64 [N,3] >= 0, origin int64 [3], exact)`` of finite points ``xyz``."""
    lo = xyz.min(axis=0)
    extent = xyz.max(axis=0) - lo
    integer = bool(np.all(xyz == np.round(xyz)))
    if integer and (bits is None or extent.max() <= 2**bits - 1):
        if extent.max() > 2**MAX_BITS - 1:
            raise InputError(
                f"integer coordinates span {int(extent.max()) + 1} voxels on one axis, more than "
                f"the 2**{MAX_BITS} grid; pass bits (--bits N, N <= {MAX_BITS}) to quantize them"
            )
        if np.abs(xyz).max() >= 2**31:
            raise InputError("integer coordinates must fit in int32")
        origin = lo.astype(np.int64)
        return xyz.astype(np.int64) - origin, origin, True
    depth = DEFAULT_BITS if bits is None else bits
    scale = (2**depth - 1) / extent.max() if extent.max() > 0 else 1.0
    voxels = np.round((xyz - lo) * scale).astype(np.int64)
    return voxels, np.zeros(3, dtype=np.int64), False


def voxelize(
    xyz: np.ndarray, colours: np.ndarray, bits: int | None = None
) -> tuple[PointCloud, int, bool]:
    """Voxelize points (see the module docstring).

    Args:
        xyz: float ``[N, 3]`` coordinates; rows with non-finite values are dropped.
        colours: float ``[N, 3]`` colours in [0, 1].
        bits: grid depth to quantize to (the longest side of the bounding box spans
            ``2**bits - 1`` voxels), or None: integer coordinates kept exactly, float ones
            quantized to :data:`DEFAULT_BITS`.

    Returns:
        ``(cloud, dropped, kept_exact)``: the voxelized cloud (Morton order), the number of
        dropped points and whether integer coordinates were kept exactly. Points merged into
        shared voxels number ``N - dropped - cloud.points``.

    Raises:
        InputError: bad shapes or ``bits``, no finite point, or integer coordinates beyond the
            21-bit grid with no ``bits`` to quantize them to.
    """
    bits = None if bits is None else check_bits(bits)
    xyz = np.asarray(xyz, dtype=np.float64)
    colours = np.asarray(colours, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or colours.shape != xyz.shape:
        raise InputError(f"need xyz [N,3] with colours [N,3], got {xyz.shape} and {colours.shape}")
    finite = np.isfinite(xyz).all(axis=1)
    dropped = int(finite.size - np.count_nonzero(finite))
    if dropped:
        xyz, colours = xyz[finite], colours[finite]
    if xyz.shape[0] == 0:
        raise InputError("the point cloud has no points with finite coordinates")
    voxels, origin, exact = _grid(xyz, bits)
    codes = morton_encode(voxels)
    unique, inverse = np.unique(codes, return_inverse=True)
    counts = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    mean = (
        np.stack(
            [np.bincount(inverse, weights=colours[:, c], minlength=unique.size) for c in range(3)],
            axis=1,
        )
        / counts[:, None]
    )
    rgb = np.clip(np.round(mean * 255.0), 0, 255).astype(np.uint8)
    out = (morton_decode(unique) + origin).astype(np.int32)
    return PointCloud(xyz=out, rgb=rgb), dropped, exact


def _open3d():
    try:
        import open3d
    except ImportError as exc:
        raise DependencyError(
            "reading .ply / .pcd needs open3d (pip install open3d-cpu; on Debian also "
            "apt-get install libusb-1.0-0)"
        ) from exc
    return open3d


def load_cloud(
    path: str | os.PathLike[str], bits: int | None = None
) -> tuple[PointCloud, SourceInfo]:
    """Read a ``.ply`` (ASCII or binary) or ``.pcd`` (incl. binary_compressed) and voxelize it.

    ``bits`` as in :func:`voxelize` (None: integer coordinates exact, float ones on the
    default 10-bit grid). Returns the cloud (int32 ``[N,3]`` voxels in Morton order, uint8
    colours) and a :class:`SourceInfo`. Raises :class:`InputError` for missing, unreadable,
    empty or colourless files and bad ``bits``.
    """
    bits = None if bits is None else check_bits(bits)
    path = Path(path)
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(f"{path}: point clouds must be .ply or .pcd files")
    if not path.is_file():
        raise InputError(f"{path}: no such point-cloud file")
    o3d = _open3d()
    pcd = o3d.io.read_point_cloud(str(path), remove_nan_points=False)
    xyz, colours = np.asarray(pcd.points), np.asarray(pcd.colors)
    if xyz.shape[0] == 0:
        raise InputError(f"{path}: no points (empty, damaged or not a .ply / .pcd file)")
    if colours.shape != xyz.shape:
        raise InputError(f"{path}: the points have no colour; nmc codes coloured point clouds")
    cloud, dropped, exact = voxelize(xyz, colours, bits)
    depth = (
        max(int((cloud.xyz.max(axis=0) - cloud.xyz.min(axis=0)).max()).bit_length(), 1)
        if exact
        else (DEFAULT_BITS if bits is None else bits)
    )
    info = SourceInfo(str(path), int(xyz.shape[0]), dropped, exact, cloud.points, depth)
    return cloud, info


def read_cloud(path: str | os.PathLike[str], bits: int | None = None) -> PointCloud:
    """Read and voxelize a point-cloud file (see :func:`load_cloud`)."""
    return load_cloud(path, bits)[0]


def ply_bytes(xyz: np.ndarray, rgb: np.ndarray, binary: bool = True) -> bytes:
    """A PLY file (float x, y, z; uchar red, green, blue) as bytes.

    Coordinates are written as float32, exact for integers below 2**24 in magnitude.
    """
    xyz = np.asarray(xyz)
    rgb = np.asarray(rgb, dtype=np.uint8)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != xyz.shape:
        raise InputError(f"need xyz [N,3] and rgb [N,3], got {xyz.shape} and {rgb.shape}")
    if xyz.size and np.abs(xyz).max() >= 2**24:
        raise InputError("coordinates of 2**24 or more cannot be written exactly as float")
    fmt = "binary_little_endian" if binary else "ascii"
    header = (
        f"ply\nformat {fmt} 1.0\ncomment written by nmc\nelement vertex {xyz.shape[0]}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    ).encode("ascii")
    if binary:
        rows = np.empty(
            xyz.shape[0],
            dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")],
        )
        for name, column in zip(("x", "y", "z"), xyz.T):
            rows[name] = column
        for name, column in zip(("r", "g", "b"), rgb.T):
            rows[name] = column
        return header + rows.tobytes()
    text = io.BytesIO()
    table = np.concatenate([np.asarray(xyz, dtype=np.float64), rgb.astype(np.float64)], axis=1)
    np.savetxt(text, table, fmt=["%.9g"] * 3 + ["%d"] * 3)
    return header + text.getvalue()


def write_ply(
    path: str | os.PathLike[str], xyz: np.ndarray, rgb: np.ndarray, binary: bool = True
) -> None:
    """Write points ``xyz`` ([N,3]) with colours ``rgb`` (uint8 [N,3]) as a PLY file, atomically."""
    atomic_write_bytes(path, ply_bytes(xyz, rgb, binary))
