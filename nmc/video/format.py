"""The video codec's header and chunk payloads (inside the nmc container, codec id 1).

Codec header (little-endian; ``uv`` = uvarint)::

    version:u8 = 2
    width:uv  height:uv  fps_num:uv  fps_den:uv  frames:uv  gop:uv
    family:u8  levels:uv                                  (nmc.video.frame_model.FrameSpec)
    synthesis_count:uv  refine:uv  hidden:uv*              (count = 1 + hidden layers)
    context_count:uv  hidden:uv*
    quality:u8 (0 = custom settings)   source_pix_fmt:text   start:uv   (informational)

One chunk per frame, in display order::

    "IFRM": index:uv  networks:blob  latents:rest   (nmc.video.network_coder payload; the
                                                     latents' rANS stream, nmc.video.latent_coder)
    "PFRM": index:uv  step:blob      (nmc.weights.encode_update payload of the moved tensors
                                      against the previous frame's decoded state)

Frame 0 is an I frame; so is every frame whose index is a multiple of ``gop``. Version 1 files
(whole-network I frames, nmc before the latent-grid codec) are refused with a
:class:`BitstreamError` that names both versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.video.frame_model import FrameSpec

HEADER_VERSION = 2
INTRA, PREDICTED = "IFRM", "PFRM"
_MAX_SIDE = 1 << 15
_MAX_PIXELS = 1 << 26
_MAX_FRAMES = 1 << 24
_MAX_RATE = 1 << 20


@dataclass(frozen=True)
class VideoHeader:
    """The decoded codec header."""

    spec: FrameSpec
    num_frames: int
    fps: Fraction
    gop: int
    quality: int
    source_pix_fmt: str
    start: int

    def to_bytes(self) -> bytes:
        out = FieldWriter().u8(HEADER_VERSION)
        out.uvarint(self.spec.width).uvarint(self.spec.height)
        out.uvarint(self.fps.numerator).uvarint(self.fps.denominator)
        out.uvarint(self.num_frames).uvarint(self.gop)
        self.spec.write(out)
        out.u8(self.quality).text(self.source_pix_fmt).uvarint(self.start)
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> VideoHeader:
        src = FieldReader(data, "video codec header")
        version = src.u8()
        if version != HEADER_VERSION:
            raise BitstreamError(
                f"video codec header version {version} is not supported: this nmc reads "
                f"version {HEADER_VERSION} (latent-grid frames); re-encode the source"
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
        spec = FrameSpec.read(src, height, width)
        quality, pix_fmt, start = src.u8(), src.text(), src.uvarint()
        src.expect_end()
        return VideoHeader(spec, frames, Fraction(num, den), gop, quality, pix_fmt, start)

    def kind_of(self, index: int) -> str:
        """Chunk kind of frame ``index``."""
        return INTRA if index % self.gop == 0 else PREDICTED


def intra_payload(index: int, networks: bytes, latents: bytes) -> bytes:
    return FieldWriter().uvarint(index).blob(networks).raw(latents).getvalue()


def predicted_payload(index: int, step: bytes) -> bytes:
    return FieldWriter().uvarint(index).blob(step).getvalue()


def parse_payload(kind: str, payload: bytes, index: int) -> tuple[bytes, bytes]:
    """Frame ``index``'s blobs: ``(networks, latents)`` of an I frame, ``(step, b"")`` of a P
    frame."""
    src = FieldReader(payload, f"chunk {index} ({kind})")
    if src.uvarint() != index:
        raise BitstreamError(f"chunk {index} ({kind}): frame index mismatch (chunks out of order)")
    first = src.blob()
    second = src.raw(src.remaining) if kind == INTRA else b""
    src.expect_end()
    return first, second
