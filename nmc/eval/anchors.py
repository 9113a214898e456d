"""Video anchors: x264, x265 and SVT-AV1 through PyAV's bundled FFmpeg, in process.

Each anchor encodes the reference clip's YUV 4:2:0 planes as a raw elementary stream (no
container, so no muxing overhead), the rate is the sum of the packet sizes, and the packets are
decoded back with FFmpeg's decoders (h264, hevc, libdav1d) for measurement.

x264 and x265 put their version and full option string into a "user data unregistered" SEI
message (≈ 0.7 kB and 2.3 kB). No decoder needs it, and on small test clips it would be a large
share of a low-rate stream, so those SEI NAL units are removed before counting and decoding.

Default settings (see :data:`VIDEO_ANCHORS`): ``medium`` presets for x264 / x265 and preset 6 for
SVT-AV1, low-delay P coding with one I frame (no B frames, no periodic key frames), CRF as the
rate parameter. That matches the project's own codec, which codes one I frame followed by P
frames.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import av
import numpy as np

from nmc.errors import DependencyError, InputError
from nmc.media import Video, frame_planes, planes_frame


@dataclass(frozen=True)
class VideoAnchor:
    """One PyAV encoder configuration; the rate point is its ``crf``.

    Attributes:
        encoder: FFmpeg encoder name (``libx264``).
        decoder: FFmpeg decoder for its stream (``h264``).
        preset: encoder preset.
        params_option: the encoder's private-parameters option (``x264-params``).
        params: ``key=value:key=value`` passed through ``params_option``.
        crf_range: valid CRF values, inclusive.
        nal_syntax: ``"h264"`` / ``"hevc"`` for Annex-B streams whose informational SEI is
            dropped, ``""`` for streams without one.
    """

    encoder: str
    decoder: str
    preset: str
    params_option: str
    params: str
    crf_range: tuple[int, int]
    nal_syntax: str


VIDEO_ANCHORS: dict[str, VideoAnchor] = {
    "x264": VideoAnchor(
        "libx264", "h264", "medium", "x264-params", "keyint=infinite:bframes=0", (0, 51), "h264"
    ),
    "x265": VideoAnchor(
        "libx265",
        "hevc",
        "medium",
        "x265-params",
        "log-level=error:keyint=-1:bframes=0",
        (0, 51),
        "hevc",
    ),
    "svtav1": VideoAnchor(
        "libsvtav1", "libdav1d", "6", "svtav1-params", "pred-struct=1:keyint=-1", (1, 63), ""
    ),
}


@dataclass(frozen=True)
class AnchorOutput:
    """Result of one anchor encode + decode.

    Attributes:
        bits: size of all packets, bits.
        planes: decoded ``(Y, U, V)`` uint8, shapes as the reference's.
        encode_s, decode_s: wall-clock seconds.
    """

    bits: int
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    encode_s: float
    decode_s: float


def resolve_anchor(name: str, preset: str | None = None, params: str | None = None) -> VideoAnchor:
    """The anchor ``name`` (a key of :data:`VIDEO_ANCHORS`), optionally with preset / params."""
    if name not in VIDEO_ANCHORS:
        raise InputError(f"unknown video anchor {name!r}; known: {', '.join(VIDEO_ANCHORS)}")
    base = VIDEO_ANCHORS[name]
    return VideoAnchor(
        base.encoder,
        base.decoder,
        base.preset if preset is None else str(preset),
        base.params_option,
        base.params if params is None else params,
        base.crf_range,
        base.nal_syntax,
    )


def _encoder(anchor: VideoAnchor, clip: Video, crf: int) -> av.CodecContext:
    # SVT-AV1 prints its whole configuration to stderr unless told otherwise; a user's own
    # SVT_LOG setting wins.
    os.environ.setdefault("SVT_LOG", "1")
    try:
        context = av.CodecContext.create(anchor.encoder, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise DependencyError(
            f"this PyAV build has no {anchor.encoder} encoder; install the PyPI 'av' wheel"
        ) from exc
    context.width, context.height, context.pix_fmt = clip.width, clip.height, "yuv420p"
    context.time_base = 1 / clip.fps
    context.framerate = clip.fps
    context.options = {
        "crf": str(crf),
        "preset": anchor.preset,
        anchor.params_option: anchor.params,
    }
    return context


_START_CODE = re.compile(b"\x00\x00\x01")
_SEI_USER_DATA_UNREGISTERED = 5


def _is_info_sei(nal: bytes, syntax: str) -> bool:
    """Whether ``nal`` is an SEI NAL unit whose first message is user data unregistered."""
    if syntax == "h264":
        return len(nal) > 1 and nal[0] & 0x1F == 6 and nal[1] == _SEI_USER_DATA_UNREGISTERED
    return len(nal) > 2 and (nal[0] >> 1) & 0x3F == 39 and nal[2] == _SEI_USER_DATA_UNREGISTERED


def _drop_info_sei(data: bytes, syntax: str) -> bytes:
    """``data`` (Annex-B) without its informational SEI NAL units, start codes included."""
    if not syntax:
        return data
    starts = [m.start() for m in _START_CODE.finditer(data)]
    if not starts:
        return data
    kept = [data[: starts[0]]]
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        unit = data[start:end]
        if not _is_info_sei(unit[3:].rstrip(b"\x00"), syntax):
            kept.append(unit)
    return b"".join(kept)


def encode_video_anchor(clip: Video, anchor: VideoAnchor, crf: int) -> AnchorOutput:
    """Encode ``clip`` with ``anchor`` at ``crf``, decode it back, and time both.

    Raises:
        InputError: odd frame size (4:2:0 encoders need even sizes) or CRF out of range.
        DependencyError: the encoder is missing from this PyAV build.
    """
    low, high = anchor.crf_range
    if not low <= crf <= high:
        raise InputError(f"{anchor.encoder}: CRF {crf} outside {low}..{high}")
    if clip.width % 2 or clip.height % 2:
        raise InputError(
            f"{anchor.encoder} needs even frame sizes, got {clip.width}x{clip.height}; crop first"
        )
    started = time.perf_counter()
    encoder = _encoder(anchor, clip, crf)
    packets = []
    for index in range(clip.num_frames):
        packets += encoder.encode(planes_frame(*clip.frame(index), index))
    packets += encoder.encode(None)
    payloads = [_drop_info_sei(bytes(packet), anchor.nal_syntax) for packet in packets]
    encode_s = time.perf_counter() - started
    bits = 8 * sum(len(payload) for payload in payloads)

    started = time.perf_counter()
    decoder = av.CodecContext.create(anchor.decoder, "r")
    decoded = []
    for packet in [*(av.Packet(payload) for payload in payloads), None]:
        for frame in decoder.decode(packet):
            decoded.append(frame_planes(frame.reformat(format="yuv420p")))
    decode_s = time.perf_counter() - started
    if len(decoded) != clip.num_frames:
        raise InputError(f"{anchor.decoder} returned {len(decoded)} frames for {clip.num_frames}")
    planes = tuple(np.stack([f[i] for f in decoded]) for i in range(3))
    return AnchorOutput(bits, planes, encode_s, decode_s)  # type: ignore[arg-type]
