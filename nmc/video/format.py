"""The video codec's header and chunk payloads (inside the nmc container, codec id 1).

Codec header (little-endian; ``uv`` = uvarint)::

    version:u8 = 4
    width:uv  height:uv  fps_num:uv  fps_den:uv  frames:uv  gop:uv
    family:u8  levels:uv                                  (nmc.video.frame_model.FrameSpec)
    synthesis_count:uv  refine:uv  hidden:uv*              (count = 1 + hidden layers)
    context_count:uv  hidden:uv*
    prior:u8      (version >= 3; 0 = none, 1 = nmc's shipped prior, nmc.video.prior)
    quality:u8 (0 = custom settings)   source_pix_fmt:text   start:uv   (informational)

One chunk per group of frames: an ``FRMS`` chunk starts at every I frame (each multiple of
``gop``, and every scene cut the encoder codes as an I frame) and holds it and the P frames that
follow it::

    "FRMS": first:uv  then per frame:  entry:uv = 2 * size + is_intra,  size bytes
        I frame: networks:blob  latents:rest   (nmc.video.network_coder payload; the latents'
                                                rANS stream, nmc.video.latent_coder)
        P frame: the step                      (nmc.video.inter: flags byte, motion, weights,
                                                residual)

so a frame costs one or two bytes of framing (a chunk per frame cost 15: kind, length, CRC,
index), and a reader still seeks to any I frame without decoding what precedes it. I-frame
network weights are coded relative to the prior the header names. Versions 1 and 2 (a chunk
per frame, no prior) and 3 (P-frame motion coded with one Laplace scale per frame instead of
adaptive contexts carried through the group) are refused with a :class:`BitstreamError` that
names the version this nmc reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from nmc.bitstream import Chunk, FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.video.frame_model import FrameSpec
from nmc.video.prior import PRIOR_NAMES

HEADER_VERSION = 4
INTRA, PREDICTED = "IFRM", "PFRM"
FRAMES = "FRMS"
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
    prior: int = 0

    def to_bytes(self) -> bytes:
        out = FieldWriter().u8(HEADER_VERSION)
        out.uvarint(self.spec.width).uvarint(self.spec.height)
        out.uvarint(self.fps.numerator).uvarint(self.fps.denominator)
        out.uvarint(self.num_frames).uvarint(self.gop)
        self.spec.write(out)
        out.u8(self.prior).u8(self.quality).text(self.source_pix_fmt).uvarint(self.start)
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> VideoHeader:
        src = FieldReader(data, "video codec header")
        version = src.u8()
        if version != HEADER_VERSION:
            raise BitstreamError(
                f"video codec header version {version} is not supported: this nmc reads "
                f"version {HEADER_VERSION} (latent-grid frames in groups, context-coded motion); "
                "re-encode the source"
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
        prior = src.u8()
        if prior >= len(PRIOR_NAMES):
            raise BitstreamError(f"video codec header: unknown network prior id {prior}")
        quality, pix_fmt, start = src.u8(), src.text(), src.uvarint()
        src.expect_end()
        return VideoHeader(spec, frames, Fraction(num, den), gop, quality, pix_fmt, start, prior)

    def kind_of(self, index: int) -> str:
        """Chunk kind of frame ``index``."""
        return INTRA if index % self.gop == 0 else PREDICTED


def intra_payload(networks: bytes, latents: bytes) -> bytes:
    """An I frame's entry body."""
    return FieldWriter().blob(networks).raw(latents).getvalue()


def pack_frames(frames: Sequence[tuple[str, bytes]]) -> list[Chunk]:
    """Group ``(kind, body)`` frames (display order, the first an I frame) into ``FRMS``
    chunks, one starting at every I frame."""
    chunks: list[Chunk] = []
    out = None
    for index, (kind, body) in enumerate(frames):
        if kind == INTRA:
            if out is not None:
                chunks.append(Chunk(FRAMES, out.getvalue()))
            out = FieldWriter().uvarint(index)
        elif out is None:
            raise ValueError("the first frame must be an I frame")
        out.raw(_entry_prefix(kind, body)).raw(body)
    if out is not None:
        chunks.append(Chunk(FRAMES, out.getvalue()))
    return chunks


def frame_entry_bits(kind: str, body: bytes) -> int:
    """Bits one frame takes inside its ``FRMS`` chunk (framing included)."""
    return 8 * (len(_entry_prefix(kind, body)) + len(body))


def _entry_prefix(kind: str, body: bytes) -> bytes:
    """A frame entry's uvarint ``2 * size + is_intra``."""
    return FieldWriter().uvarint(2 * len(body) + (kind == INTRA)).getvalue()


def unpack_frames(chunks: Sequence[Chunk], num_frames: int) -> list[tuple[str, bytes]]:
    """``(kind, body)`` of every frame of a file's chunks; BitstreamError if they do not hold
    exactly ``num_frames`` frames in order, each chunk starting with an I frame."""
    frames: list[tuple[str, bytes]] = []
    for number, chunk in enumerate(chunks):
        what = f"chunk {number} ({chunk.kind})"
        if chunk.kind != FRAMES:
            raise BitstreamError(f"{what}: expected a {FRAMES} chunk")
        src = FieldReader(chunk.payload, what)
        if src.uvarint() != len(frames):
            raise BitstreamError(f"{what}: first frame index mismatch (chunks out of order)")
        first = True
        while src.remaining:
            entry = src.bounded_uvarint(2 * src.remaining + 1, "frame entry")
            kind = INTRA if entry & 1 else PREDICTED
            if first != (kind == INTRA):
                raise BitstreamError(f"{what}: an I frame must start the chunk, and only there")
            if len(frames) >= num_frames:
                raise BitstreamError(f"{what}: more frames than the header's {num_frames}")
            frames.append((kind, bytes(src.raw(entry >> 1))))
            first = False
        if first:
            raise BitstreamError(f"{what}: empty frame group")
    if len(frames) != num_frames:
        raise BitstreamError(
            f"header says {num_frames} frames but the file holds {len(frames)} "
            "(truncated or damaged)"
        )
    return frames


def parse_intra(body: bytes, index: int) -> tuple[bytes, bytes]:
    """Frame ``index``'s I-frame blobs: ``(networks, latents)``."""
    src = FieldReader(body, f"frame {index} ({INTRA})")
    return bytes(src.blob()), bytes(src.raw(src.remaining))
