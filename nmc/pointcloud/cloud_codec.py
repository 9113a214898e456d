"""Encoding a voxelized cloud to a ``.nmc`` file and decoding it back.

File: the container (:mod:`nmc.bitstream`) with codec id 2, the header of
:mod:`nmc.pointcloud.header`, then a ``GEOM`` chunk (:mod:`nmc.pointcloud.geometry`) and an
``ATTR`` chunk: in version 2 to 8 streams ``update:blob`` (the post-filter's per-cloud update,
empty when there is none) followed by the colours (:mod:`nmc.pointcloud.attributes`).

Decoded points come in Morton (z-order) order of their coordinates relative to the header's
origin (the encoder's minimum corner), which is also the order the colours are coded in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nmc.bitstream import Chunk, Container, FieldReader, FieldWriter, pack, unpack
from nmc.errors import BitstreamError, InputError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud import postfilter as hooks
from nmc.pointcloud.attributes import AttributeParams, decode_attributes, encode_attributes
from nmc.pointcloud.cloud import DecodedCloud, PointCloud, checked_cloud
from nmc.pointcloud.descriptor import CODEC_ID
from nmc.pointcloud.geometry import decode_geometry, encode_geometry
from nmc.pointcloud.header import MAX_POINTS, POSTFILTERS, CloudHeader
from nmc.pointcloud.morton import MAX_BITS, morton_decode, morton_encode
from nmc.pointcloud.octree import Octree
from nmc.pointcloud.qp import check_qp, qp_step

GEOMETRY_CHUNK = "GEOM"
ATTRIBUTE_CHUNK = "ATTR"


@dataclass(frozen=True)
class EncodeStats:
    """Sizes and timings of one encode (bits are chunk payload bits)."""

    points: int
    depth: int
    geometry_bits: int
    attribute_bits: int
    total_bits: int
    geometry_seconds: float
    attribute_seconds: float
    postfilter: str = "none"
    filter_update: str = "shipped"
    filter_update_bits: int = 0
    filter_gain_db: float | None = None
    filter_seconds: float = 0.0
    filter_candidates: dict | None = None


def _prepare(cloud: PointCloud) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(sorted leaf codes, order, origin, depth)`` of a checked cloud."""
    xyz = cloud.xyz.astype(np.int64)
    origin = xyz.min(axis=0)
    local = xyz - origin
    depth = max(int(local.max()).bit_length(), 1)
    if depth > MAX_BITS:
        raise InputError(
            f"the cloud spans {int(local.max()) + 1} voxels; at most 2**{MAX_BITS} per axis"
        )
    if cloud.points > MAX_POINTS:
        raise InputError(f"{cloud.points} points; this codec takes at most {MAX_POINTS}")
    codes = morton_encode(local)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    if np.any(codes[1:] == codes[:-1]):
        raise InputError(
            "the cloud has several points in one voxel; merge them first "
            "(nmc.pointcloud.voxelize averages their colours)"
        )
    return codes, order, origin, depth


def prepare_tree(cloud: PointCloud) -> tuple[Octree, np.ndarray]:
    """The octree of a voxelized cloud and the int64 ``[N]`` order that lists its points
    (and colours) in Morton order, the order the encoder codes them in."""
    codes, order, _, depth = _prepare(checked_cloud(cloud))
    return Octree.from_leaves(codes, depth), order


def encode_cloud_with_stats(
    cloud: PointCloud,
    qp: int,
    chroma_qp_offset: int = -1,
    postfilter: int = 1,
    adapt: bool = False,
    device: str = "cpu",
    progress: bool = False,
    network: bool = True,
) -> tuple[bytes, EncodeStats]:
    """Like :func:`encode_cloud`, also returning sizes and timings.

    Args:
        postfilter: index in :data:`~nmc.pointcloud.header.POSTFILTERS` of the post-filter
            the decoder applies by default (MS-GAT).
        adapt: let the post-filter tune itself to this cloud (``postfilter.adapt``): the
            encoder filters the decoded colours as the decoder will, sends a rate-aware
            update when it pays, and records ``none`` when filtering would not help.
        device, progress: torch device and progress bar of that adaptation.
        network: let that adaptation also fine-tune the filter's network (version 5 on).
    """
    cloud = checked_cloud(cloud)
    qp = check_qp(qp)
    if isinstance(chroma_qp_offset, bool) or not isinstance(chroma_qp_offset, (int, np.integer)):
        raise InputError(f"chroma_qp_offset must be an integer, got {chroma_qp_offset!r}")
    if abs(int(chroma_qp_offset)) > 24:
        raise InputError(f"chroma_qp_offset must be in [-24, 24], got {chroma_qp_offset}")
    started = time.perf_counter()
    codes, order, origin, depth = _prepare(cloud)
    tree = Octree.from_leaves(codes, depth)
    geometry = encode_geometry(tree)
    geometry_done = time.perf_counter()
    params = AttributeParams(qp, int(chroma_qp_offset))
    colours, recon = encode_attributes(tree, rgb_to_ycbcr(cloud.rgb[order]), params)
    done = time.perf_counter()
    update, filter_stats = b"", {}
    if adapt and postfilter:
        decoded = DecodedCloud(
            xyz=(morton_decode(codes) + origin).astype(np.int32),
            rgb=ycbcr_to_rgb(recon),
            step=np.full(cloud.points, qp_step(qp), dtype=np.float32),
            qp=qp,
            chroma_qp_offset=int(chroma_qp_offset),
            geometry_bits=8 * len(geometry),
            attribute_bits=8 * len(colours),
        )
        name = POSTFILTERS[postfilter]
        choice = hooks.adapt(name, decoded, cloud.rgb[order], device, progress, network)
        if choice is not None:
            update = choice.payload
            postfilter = 0 if choice.kind == "none" else postfilter
            filter_stats = {
                "filter_update": choice.kind,
                "filter_gain_db": choice.gain_db["yuv"],
                "filter_seconds": choice.seconds,
                "filter_candidates": choice.candidates,
            }
    attributes = FieldWriter().blob(update).raw(colours).getvalue()
    header = CloudHeader(
        depth, tuple(int(v) for v in origin), cloud.points, qp, int(chroma_qp_offset), postfilter
    )
    data = pack(
        CODEC_ID,
        header.to_bytes(),
        [Chunk(GEOMETRY_CHUNK, geometry), Chunk(ATTRIBUTE_CHUNK, attributes)],
    )
    stats = EncodeStats(
        points=cloud.points,
        depth=depth,
        geometry_bits=8 * len(geometry),
        attribute_bits=8 * len(attributes),
        total_bits=8 * len(data),
        geometry_seconds=geometry_done - started,
        attribute_seconds=done - geometry_done,
        postfilter=POSTFILTERS[postfilter],
        filter_update_bits=8 * len(update),
        **filter_stats,
    )
    return data, stats


def encode_cloud(cloud: PointCloud, qp: int, chroma_qp_offset: int = -1) -> bytes:
    """Encode a voxelized cloud: lossless geometry, colours at G-PCC QP ``qp``.

    Args:
        cloud: int32 ``[N,3]`` unique voxels with uint8 ``[N,3]`` colours.
        qp: luma QP (4..63; the CTC uses 51, 46, 40, 34, 28, 22).
        chroma_qp_offset: added to ``qp`` for Cb and Cr.

    Returns:
        The whole ``.nmc`` file; it asks the decoder for the shipped MS-GAT filter (the
        encoder-side adaptation and never-worse check run through :func:`nmc.encode`).
    """
    return encode_cloud_with_stats(cloud, qp, chroma_qp_offset)[0]


def _chunk(container: Container, kind: str) -> bytes:
    found = [c.payload for c in container.chunks if c.kind == kind]
    if len(found) != 1:
        raise BitstreamError(f"point-cloud file: expected one {kind} chunk, found {len(found)}")
    return found[0]


def split_attributes(container: Container) -> tuple[bytes, bytes]:
    """``(filter update, colour payload)`` of the attribute chunk (no update before v2)."""
    header = CloudHeader.from_bytes(container.header)
    payload = _chunk(container, ATTRIBUTE_CHUNK)
    if header.version < 2:
        return b"", payload
    src = FieldReader(payload, f"{ATTRIBUTE_CHUNK} chunk")
    update = src.blob()
    return update, src.raw(src.remaining)


def decode_container(container: Container) -> DecodedCloud:
    """Decode a parsed point-cloud container (see :func:`decode_cloud`)."""
    if container.codec_id != CODEC_ID:
        raise BitstreamError(
            f"codec id {container.codec_id} is not a point cloud (expected {CODEC_ID})"
        )
    header = CloudHeader.from_bytes(container.header)
    geometry = _chunk(container, GEOMETRY_CHUNK)
    attributes = _chunk(container, ATTRIBUTE_CHUNK)
    tree = decode_geometry(geometry, header.depth, header.points)
    params = AttributeParams(header.qp, header.chroma_qp_offset)
    ycbcr = decode_attributes(split_attributes(container)[1], tree, params, header.version)
    xyz = morton_decode(tree.codes[header.depth]) + np.asarray(header.origin, dtype=np.int64)
    if xyz.min() < -(1 << 31) or xyz.max() >= 1 << 31:
        raise BitstreamError("point-cloud file: decoded coordinates overflow int32")
    step = np.full(header.points, qp_step(header.qp), dtype=np.float32)
    return DecodedCloud(
        xyz=xyz.astype(np.int32),
        rgb=ycbcr_to_rgb(ycbcr),
        step=step,
        qp=header.qp,
        chroma_qp_offset=header.chroma_qp_offset,
        geometry_bits=8 * len(geometry),
        attribute_bits=8 * len(attributes),
    )


def decode_cloud(data: bytes) -> DecodedCloud:
    """Decode a ``.nmc`` point-cloud file.

    Returns the points in Morton order of their coordinates relative to the encoder's
    minimum corner, with ``xyz`` int32 ``[N,3]`` (as a set equal to the encoded voxels),
    ``rgb`` uint8 ``[N,3]`` and ``step`` float32 ``[N]`` (each point's luma quantization
    step in 8-bit units). Raises :class:`BitstreamError` on damaged or foreign bytes.
    """
    return decode_container(unpack(bytes(data)))
