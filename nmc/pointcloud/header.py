"""The point-cloud codec header (the container's codec header bytes, codec id 2).

Layout (little-endian, ``docs/pointcloud.md``)::

    version:u8 = 8   depth:u8   origin:svarint*3   points:uvarint
    qp:u8   chroma_qp_offset:svarint   postfilter:u8

``origin`` is added to the decoded voxel coordinates; ``postfilter`` names the post-filter
the decoder applies by default (0 = none, 1 = MS-GAT). Streams of versions 2 to 8 carry a
per-cloud filter update in front of the attribute payload and are filtered with the MS-GAT
weights of their version; version 3 changed the attribute payload
(:mod:`nmc.pointcloud.attributes`), version 4 the filter's weights and its per-channel
update (:mod:`nmc.pointcloud.msgat.update`), version 5 lets that update step the network's
own weights (kind 4), versions 6 to 8 ship new weights (``msgat_v5`` to ``msgat_v7``);
version 1 streams (no update) are still read.
"""

from __future__ import annotations

from dataclasses import dataclass

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.pointcloud.morton import MAX_BITS
from nmc.pointcloud.qp import MAX_QP, MIN_QP

VERSION = 8
READABLE_VERSIONS = tuple(range(1, VERSION + 1))
MAX_POINTS = 1 << 24
POSTFILTERS = ("none", "msgat")
_MAX_ORIGIN = 1 << 31


@dataclass(frozen=True)
class CloudHeader:
    """What a decoder needs before the chunks.

    Attributes:
        depth: octree levels below the root (1..21).
        origin: (x, y, z) added to the decoded voxel coordinates.
        points: number of voxels (1 .. 2**24).
        qp: luma QP.
        chroma_qp_offset: chroma QP offset.
        postfilter: index into :data:`POSTFILTERS`.
        version: codec version of the stream (:data:`READABLE_VERSIONS`; written: the one
            given, :data:`VERSION` for new streams).
    """

    depth: int
    origin: tuple[int, int, int]
    points: int
    qp: int
    chroma_qp_offset: int
    postfilter: int = 0
    version: int = VERSION

    def to_bytes(self) -> bytes:
        out = FieldWriter().u8(self.version).u8(self.depth)
        for value in self.origin:
            out.svarint(value)
        out.uvarint(self.points).u8(self.qp).svarint(self.chroma_qp_offset).u8(self.postfilter)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CloudHeader:
        src = FieldReader(data, "point-cloud header")
        version = src.u8()
        if version not in READABLE_VERSIONS:
            raise BitstreamError(
                f"point-cloud header: version {version} is not supported (this nmc reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}); decode with the nmc release that "
                "wrote the file"
            )
        depth = src.u8()
        origin = (src.svarint(), src.svarint(), src.svarint())
        points = src.bounded_uvarint(MAX_POINTS, "points")
        qp, offset, postfilter = src.u8(), src.svarint(), src.u8()
        src.expect_end()
        if not 1 <= depth <= MAX_BITS:
            raise BitstreamError(f"point-cloud header: depth {depth} outside 1..{MAX_BITS}")
        if points < 1 or points > 8**depth:
            raise BitstreamError(f"point-cloud header: {points} points cannot fit depth {depth}")
        if any(abs(v) >= _MAX_ORIGIN for v in origin):
            raise BitstreamError("point-cloud header: origin outside the int32 range")
        if not MIN_QP <= qp <= MAX_QP or abs(offset) > MAX_QP:
            raise BitstreamError(f"point-cloud header: qp {qp} / offset {offset} out of range")
        if postfilter >= len(POSTFILTERS):
            raise BitstreamError(f"point-cloud header: unknown post-filter id {postfilter}")
        return cls(depth, origin, points, qp, offset, postfilter, version)
