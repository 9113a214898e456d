"""The video codec's header and chunk payloads (inside the nmc container, codec id 1).

Codec header (little-endian; ``uv`` = uvarint)::

    version:u8 = 1
    width:uv  height:uv  fps_num:uv  fps_den:uv  frames:uv  gop:uv
    family:u8  field_count:uv  fields:uv*      (mlp: F width depth; conv: C0 channels...)
    update:u8  rank:uv                          (update mode index in UPDATE_MODES)
    quality:u8 (0 = custom settings)   source_pix_fmt:text   start:uv   (informational)

One chunk per frame, in display order::

    "IFRM": index:uv  weights:blob   (nmc.weights.encode_state_dict payload)
    "PFRM": index:uv  step:blob      (nmc.weights.encode_update payload against the previous
                                      frame's decoded weights)  factors:blob (state_dict payload
                                      of the low-rank factors; empty unless update = lowrank)

Frame 0 is an I frame; so is every frame whose index is a multiple of ``gop``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.video.networks import UPDATE_MODES, NetSpec

HEADER_VERSION = 1
INTRA, PREDICTED = "IFRM", "PFRM"
_MAX_SIDE = 1 << 15
_MAX_PIXELS = 1 << 26
_MAX_FRAMES = 1 << 24
_MAX_RATE = 1 << 20
_MAX_RANK = 64


@dataclass(frozen=True)
class VideoHeader:
    """The decoded codec header."""

    spec: NetSpec
    num_frames: int
    fps: Fraction
    gop: int
    update: str
    rank: int
    quality: int
    source_pix_fmt: str
    start: int

    def to_bytes(self) -> bytes:
        out = FieldWriter().u8(HEADER_VERSION)
        out.uvarint(self.spec.width).uvarint(self.spec.height)
        out.uvarint(self.fps.numerator).uvarint(self.fps.denominator)
        out.uvarint(self.num_frames).uvarint(self.gop)
        self.spec.write(out)
        out.u8(UPDATE_MODES.index(self.update)).uvarint(self.rank)
        out.u8(self.quality).text(self.source_pix_fmt).uvarint(self.start)
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> VideoHeader:
        src = FieldReader(data, "video codec header")
        version = src.u8()
        if version != HEADER_VERSION:
            raise BitstreamError(
                f"video codec header version {version} is not supported (reads {HEADER_VERSION})"
            )
        width = src.bounded_uvarint(_MAX_SIDE, "width")
        height = src.bounded_uvarint(_MAX_SIDE, "height")
        num = src.bounded_uvarint(_MAX_RATE, "fps numerator")
        den = src.bounded_uvarint(_MAX_RATE, "fps denominator")
        frames = src.bounded_uvarint(_MAX_FRAMES, "frame count")
        gop = src.bounded_uvarint(_MAX_FRAMES, "gop")
        if min(width, height, num, den, frames, gop) < 1:
            raise BitstreamError(
                "video codec header: size, rate, frame count and gop must be positive"
            )
        if width * height > _MAX_PIXELS:
            raise BitstreamError(
                f"video codec header: {width}x{height} exceeds {_MAX_PIXELS} pixels"
            )
        spec = NetSpec.read(src, height, width)
        mode = src.u8()
        if mode >= len(UPDATE_MODES):
            raise BitstreamError(f"video codec header: unknown update mode {mode}")
        rank = src.bounded_uvarint(_MAX_RANK, "rank")
        quality, pix_fmt, start = src.u8(), src.text(), src.uvarint()
        src.expect_end()
        return VideoHeader(
            spec, frames, Fraction(num, den), gop, UPDATE_MODES[mode], rank, quality, pix_fmt, start
        )

    def kind_of(self, index: int) -> str:
        """Chunk kind of frame ``index``."""
        return INTRA if index % self.gop == 0 else PREDICTED


def intra_payload(index: int, weights: bytes) -> bytes:
    return FieldWriter().uvarint(index).blob(weights).getvalue()


def predicted_payload(index: int, step: bytes, factors: bytes) -> bytes:
    return FieldWriter().uvarint(index).blob(step).blob(factors).getvalue()


def parse_payload(kind: str, payload: bytes, index: int) -> tuple[bytes, bytes]:
    """``(weights or step, factors)`` blobs of frame ``index``'s chunk (factors empty for I)."""
    src = FieldReader(payload, f"chunk {index} ({kind})")
    if src.uvarint() != index:
        raise BitstreamError(f"chunk {index} ({kind}): frame index mismatch (chunks out of order)")
    first = src.blob()
    second = src.blob() if kind == PREDICTED else b""
    src.expect_end()
    return first, second
