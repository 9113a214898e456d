"""The video codec's header and chunk payloads (inside the nmc container, codec id 1).

Codec header (little-endian; ``uv`` = uvarint)::

    version:u8 = 9   (6, 7 and 8 are read too: 6 lacks context_inputs, 6 and 7 lack
                      upsample_taps, 8 knows prior ids 0-2 only)
    width:uv  height:uv  fps_num:uv  fps_den:uv  frames:uv  gop:uv
    family:u8  levels:uv                                  (nmc.video.frame_model.FrameSpec)
    synthesis_count:uv  refine:uv  hidden:uv*              (count = 1 + hidden layers)
    context_count:uv  hidden:uv*
    context_inputs:u8 (version >= 7; 1 = the context model also takes each latent's decode
                   phase and level as one-hot inputs, 0 = the neighbourhood alone, as in 6)
    upsample_taps:u8 (version >= 8; taps of the synthesis's learned 2x upsampling kernels,
                   0 = each level upsampled by a fixed bicubic filter, as in 6 and 7)
    prior:u8      (version >= 3; 0 = none, 1 = nmc's shipped prior with its residual context
                   model, 2 = the shipped prior's networks only, version >= 9: 3 / 4 = the
                   shipped networks trained at the low / high half of the quality ladder:
                   nmc.video.prior)
    motion_block:u8  (version >= 5; log2 of the motion block side in luma pixels, 3..6)
    quality:u8 (0 = custom settings)   source_pix_fmt:text   start:uv   (informational)

One chunk per group of frames: an ``FRMS`` chunk starts at every I frame (each multiple of
``gop``, and every scene cut the encoder codes as an I frame) and holds it and the P frames that
follow it::

    "FRMS": first:uv  count:uv  symbols:uv  networks:blob  updates:uv  update:blob*  stream:rest

``count`` frames from frame ``first``; ``networks`` is the I frame's network payload
(:mod:`nmc.video.network_coder`, relative to the prior the header names); ``update`` holds, in
frame order, the synthesis-weight steps of the P frames whose flags say so
(:func:`nmc.weights.encode_update`); ``stream`` is one rANS stream of ``symbols`` symbols
(:mod:`nmc.entropy.stream`): the I frame's latents (:mod:`nmc.video.latent_coder`), then each
P frame's flags, motion, residual and transform residual (:mod:`nmc.video.inter`). One stream
per group instead of one per part and frame: each stream ends in a 4–8-byte flush of the rANS
state rounded up to whole 32-bit words, and with a length byte and a flags byte per frame that
framing was a quarter of a carphone file at quality 1 (version 4). A reader still seeks to any
I frame without decoding what precedes it. Versions 1 and 2 (a chunk per frame, no prior), 3
(P-frame motion coded with one Laplace scale per frame), 4 (a stream per part and frame) and
5 (P frames without a transform residual: their flags are one bin shorter) are refused with
a :class:`BitstreamError` that names the versions this nmc reads; version 6 streams (context
models without positional inputs), version 7 streams (fixed bicubic upsampling) and version 8
streams (one shipped prior per network shape) decode as they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from nmc.bitstream import Chunk, FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.video.frame_model import FrameSpec
from nmc.video.motion import BLOCK_SIZES
from nmc.video.prior import PRIOR_LOW_RATE, PRIOR_NAMES

HEADER_VERSION = 9
_READABLE_VERSIONS = (6, 7, 8, 9)
_RATE_CLASS_PRIORS = 9  # the first version whose prior ids 3 and 4 exist
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
    motion_block: int = 16

    def to_bytes(self) -> bytes:
        out = FieldWriter().u8(HEADER_VERSION)
        out.uvarint(self.spec.width).uvarint(self.spec.height)
        out.uvarint(self.fps.numerator).uvarint(self.fps.denominator)
        out.uvarint(self.num_frames).uvarint(self.gop)
        self.spec.write(out)
        out.u8(self.prior).u8(self.motion_block.bit_length() - 1)
        out.u8(self.quality).text(self.source_pix_fmt).uvarint(self.start)
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> VideoHeader:
        src = FieldReader(data, "video codec header")
        version = src.u8()
        if version not in _READABLE_VERSIONS:
            raise BitstreamError(
                f"video codec header version {version} is not supported: this nmc reads "
                f"versions 6 to {HEADER_VERSION} (latent-grid frames in groups, one "
                "entropy-coded stream per group); re-encode the source"
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
        spec = FrameSpec.read(src, height, width, version)
        prior = src.u8()
        known = len(PRIOR_NAMES) if version >= _RATE_CLASS_PRIORS else PRIOR_LOW_RATE
        if prior >= known:
            raise BitstreamError(f"video codec header: unknown network prior id {prior}")
        motion_block = 1 << min(src.u8(), 16)
        if motion_block not in BLOCK_SIZES:
            raise BitstreamError(f"video codec header: motion block {motion_block} not supported")
        quality, pix_fmt, start = src.u8(), src.text(), src.uvarint()
        src.expect_end()
        return VideoHeader(
            spec, frames, Fraction(num, den), gop, quality, pix_fmt, start, prior, motion_block
        )

    def kind_of(self, index: int) -> str:
        """Chunk kind of frame ``index``."""
        return INTRA if index % self.gop == 0 else PREDICTED


@dataclass(frozen=True)
class FrameGroup:
    """One ``FRMS`` chunk: an I frame and the P frames predicted from it.

    Attributes:
        first: index of the I frame in the clip; count: frames in the group (>= 1).
        networks: the I frame's network payload.
        updates: synthesis-weight step payloads of the P frames that step the weights, in order.
        symbols: number of symbols in ``stream``.
        stream: the group's rANS stream.
    """

    first: int
    count: int
    networks: bytes
    updates: tuple[bytes, ...]
    symbols: int
    stream: bytes

    def to_chunk(self) -> Chunk:
        out = FieldWriter().uvarint(self.first).uvarint(self.count).uvarint(self.symbols)
        out.blob(self.networks).uvarint(len(self.updates))
        for update in self.updates:
            out.blob(update)
        return Chunk(FRAMES, out.raw(self.stream).getvalue())


def unpack_groups(
    chunks: Sequence[Chunk], num_frames: int, max_frame_symbols: int
) -> list[FrameGroup]:
    """The frame groups of a file's chunks; BitstreamError unless they hold exactly
    ``num_frames`` frames in order with at most ``max_frame_symbols`` symbols per frame."""
    groups: list[FrameGroup] = []
    frames = 0
    for number, chunk in enumerate(chunks):
        what = f"chunk {number} ({chunk.kind})"
        if chunk.kind != FRAMES:
            raise BitstreamError(f"{what}: expected a {FRAMES} chunk")
        src = FieldReader(chunk.payload, what)
        if src.uvarint() != frames:
            raise BitstreamError(f"{what}: first frame index mismatch (chunks out of order)")
        count = src.bounded_uvarint(num_frames - frames, "frame count")
        if count < 1:
            raise BitstreamError(f"{what}: empty frame group")
        symbols = src.bounded_uvarint(count * max_frame_symbols, "stream symbols")
        networks = bytes(src.blob())
        updates = src.bounded_uvarint(count - 1, "weight updates")
        steps = tuple(bytes(src.blob()) for _ in range(updates))
        groups.append(
            FrameGroup(frames, count, networks, steps, symbols, bytes(src.raw(src.remaining)))
        )
        frames += count
    if frames != num_frames:
        raise BitstreamError(
            f"header says {num_frames} frames but the file holds {frames} (truncated or damaged)"
        )
    return groups
