"""The point-cloud codec's plug-in for :mod:`nmc.registry` (codec id 2).

Lossless octree geometry and RAHT-coded colours at G-PCC QPs (DESIGN.md § 5). Encode options:
``qp`` (4..63, default 34) or ``quality`` (1..8 -> QP 51, 46, 40, 34, 28, 22, 16, 10),
``chroma_qp_offset`` (default -1), ``bits`` (quantize to this grid depth; by default integer
coordinates are kept exactly and float ones go on a 10-bit grid),
``postfilter`` (recorded as the decoder's default), ``progress``. Decode options:
``postfilter`` (``none`` or ``msgat``; default: what the file records), ``device``,
``progress``. An option given to the wrong side raises :class:`~nmc.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nmc.bitstream import Container
from nmc.errors import InputError, NmcWarning
from nmc.pointcloud import postfilter
from nmc.pointcloud.cloud import DecodedCloud, PointCloud
from nmc.pointcloud.cloud_codec import (
    ATTRIBUTE_CHUNK,
    GEOMETRY_CHUNK,
    decode_container,
    encode_cloud_with_stats,
    split_attributes,
)
from nmc.pointcloud.descriptor import CODEC_ID, INPUT_SUFFIXES, NAME, OPTIONS
from nmc.pointcloud.header import POSTFILTERS, CloudHeader
from nmc.pointcloud.io import SourceInfo, load_cloud, write_ply
from nmc.pointcloud.qp import qp_step
from nmc.registry import check_options

DEFAULT_QP = 34
QUALITY_QPS = (51, 46, 40, 34, 28, 22, 16, 10)
__all__ = ["CODEC_ID", "INPUT_SUFFIXES", "NAME", "OPTIONS", "accepts", "decode", "describe",
           "encode", "write_output"]  # fmt: skip

DEFAULT_POSTFILTER = "msgat"
FILTER_ADAPT = ("auto", "heads", "off")
_ENCODE = {
    "qp", "quality", "chroma_qp_offset", "bits", "postfilter", "filter_adapt", "device",
    "progress",
}  # fmt: skip
_DECODE = {"postfilter", "device", "progress"}


def accepts(source: object) -> bool:
    """True for a :class:`PointCloud` or a path ending in ``.ply`` / ``.pcd``."""
    if isinstance(source, PointCloud):
        return True
    if isinstance(source, (str, Path)):
        return Path(source).suffix.lower() in INPUT_SUFFIXES
    return False


def _qp(options: dict[str, Any]) -> int:
    if "qp" in options and "quality" in options:
        raise InputError("give either qp or quality, not both")
    if "quality" in options:
        quality = options["quality"]
        if isinstance(quality, bool) or quality not in range(1, len(QUALITY_QPS) + 1):
            raise InputError(f"quality must be an integer 1..{len(QUALITY_QPS)}, got {quality!r}")
        return QUALITY_QPS[quality - 1]
    return options.get("qp", DEFAULT_QP)


def _warn_merged(info: SourceInfo) -> None:
    """An :class:`~nmc.errors.NmcWarning` when voxelizing merged points (geometry was lost)."""
    if not info.merged_points:
        return
    why = (
        "points with equal integer coordinates"
        if info.kept_exact
        else f"coordinates quantized to a {info.bits}-bit grid; --bits sets the depth"
    )
    warnings.warn(
        f"{info.path}: voxelizing merged {info.merged_points:,} of "
        f"{info.source_points - info.dropped_points:,} points into shared voxels "
        f"({info.points:,} kept; {why})",
        NmcWarning,
        stacklevel=3,
    )


def encode(source: object, **options: Any) -> tuple[bytes, dict[str, Any]]:
    """Encode a point-cloud file or :class:`PointCloud`: ``(.nmc bytes, JSON-able report)``."""
    options = check_options(options, _ENCODE, "point-cloud encoding")
    qp = _qp(options)
    name = options.get("postfilter", DEFAULT_POSTFILTER)
    if name not in POSTFILTERS:
        raise InputError(f"unknown post-filter {name!r}; choose one of {', '.join(POSTFILTERS)}")
    adapt = options.get("filter_adapt", "auto")
    if adapt not in FILTER_ADAPT:
        raise InputError(f"filter_adapt must be one of {', '.join(FILTER_ADAPT)}, got {adapt!r}")
    report: dict[str, Any] = {}
    if isinstance(source, PointCloud):
        if "bits" in options:
            raise InputError("bits applies to files; a PointCloud is already voxelized")
        cloud = source
    else:
        cloud, info = load_cloud(source, options.get("bits"))
        report.update(
            source=info.path,
            source_points=info.source_points,
            dropped_points=info.dropped_points,
            merged_points=info.merged_points,
            kept_exact=info.kept_exact,
            bits=info.bits,
        )
        _warn_merged(info)
    started = time.perf_counter()
    data, stats = encode_cloud_with_stats(
        cloud,
        qp,
        options.get("chroma_qp_offset", -1),
        POSTFILTERS.index(name),
        adapt=adapt != "off",
        device=options.get("device", "cpu"),
        progress=bool(options.get("progress", False)),
        network=adapt == "auto",
    )
    points = stats.points
    report.update(
        points=points,
        depth=stats.depth,
        qp=qp,
        chroma_qp_offset=options.get("chroma_qp_offset", -1),
        luma_step=qp_step(qp),
        geometry_bits=stats.geometry_bits,
        attribute_bits=stats.attribute_bits,
        total_bits=stats.total_bits,
        geometry_bpp=stats.geometry_bits / points,
        attribute_bpp=stats.attribute_bits / points,
        total_bpp=stats.total_bits / points,
        postfilter=stats.postfilter,
        filter_update=stats.filter_update if stats.postfilter != "none" else "none",
        filter_update_bits=stats.filter_update_bits,
        encode_seconds=time.perf_counter() - started,
    )
    if stats.filter_gain_db is not None:
        report.update(
            filter_gain_db=stats.filter_gain_db,
            filter_adapt_seconds=stats.filter_seconds,
            filter_candidates=stats.filter_candidates,
        )
    return data, report


def decode(container: Container, **options: Any) -> tuple[DecodedCloud, dict[str, Any]]:
    """Decode to a :class:`DecodedCloud` (Morton point order), post-filtered if asked."""
    options = check_options(options, _DECODE, "point-cloud decoding")
    started = time.perf_counter()
    decoded = decode_container(container)
    decoded_at = time.perf_counter()
    header = CloudHeader.from_bytes(container.header)
    name = options.get("postfilter", POSTFILTERS[header.postfilter])
    update = split_attributes(container)[0]
    rgb = postfilter.apply(
        name,
        decoded,
        options.get("device", "cpu"),
        bool(options.get("progress", False)),
        update=update,
        version=header.version,
    )
    if rgb is None:
        warnings.warn(
            f"this nmc has no {name} weights for point-cloud streams of version "
            f"{header.version}; decoded without post-filter",
            NmcWarning,
            stacklevel=2,
        )
        name, rgb = "none", decoded.rgb
    if rgb is not decoded.rgb:
        decoded = dataclasses.replace(decoded, rgb=rgb)
    done = time.perf_counter()
    report = {
        "points": decoded.points,
        "qp": decoded.qp,
        "chroma_qp_offset": decoded.chroma_qp_offset,
        "luma_step": qp_step(decoded.qp),
        "geometry_bits": decoded.geometry_bits,
        "attribute_bits": decoded.attribute_bits,
        "attribute_bpp": decoded.attribute_bits / decoded.points,
        "postfilter": name,
        "filter_update": postfilter.update_kind(update) if name != "none" else "none",
        "filter_update_bits": 8 * len(update),
        "point_order": "morton",
        "decode_seconds": decoded_at - started,
        "postfilter_seconds": done - decoded_at,
    }
    return decoded, report


def write_output(media: DecodedCloud | PointCloud, path: Path, **options: Any) -> None:
    """Write a decoded cloud as a binary ``.ply`` with colour, atomically."""
    if Path(path).suffix.lower() != ".ply":
        raise InputError(f"{path}: decoded point clouds are written as .ply")
    write_ply(path, np.asarray(media.xyz), np.asarray(media.rgb))


def describe(container: Container) -> dict[str, Any]:
    """Codec header and chunk sizes as a JSON-able dict (for ``nmc info``).

    ``attribute_bits`` counts the whole attribute chunk, the post-filter's update included.
    """
    header = CloudHeader.from_bytes(container.header)
    sizes = {GEOMETRY_CHUNK: 0, ATTRIBUTE_CHUNK: 0}
    for chunk in container.chunks:
        sizes[chunk.kind] = sizes.get(chunk.kind, 0) + 8 * len(chunk.payload)
    update = split_attributes(container)[0]
    name = POSTFILTERS[header.postfilter]
    return {
        "points": header.points,
        "geometry_bits": sizes[GEOMETRY_CHUNK],
        "attribute_bits": sizes[ATTRIBUTE_CHUNK],
        "postfilter": name,
        "filter_update": postfilter.update_kind(update) if name != "none" else "none",
        "filter_update_bits": 8 * len(update),
        "pointcloud": {
            "version": header.version,
            "depth": header.depth,
            "origin": list(header.origin),
            "qp": header.qp,
            "chroma_qp_offset": header.chroma_qp_offset,
            "luma_step": qp_step(header.qp),
            "postfilter": name,
            "geometry_bpp": sizes[GEOMETRY_CHUNK] / header.points,
            "attribute_bpp": sizes[ATTRIBUTE_CHUNK] / header.points,
            "total_bpp": 8 * container.total_bytes / header.points,
        },
    }
