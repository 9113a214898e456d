"""Reference media for evaluation: a video clip as decoded 8-bit YUV 4:2:0 planes.

The reference of every video measurement is the *decoded source* (DESIGN.md § 5), read by
:func:`nmc.media.read_frames`, the same reader the video codec takes its input from: a
``yuv420p`` source (the usual case: .y4m, raw .yuv, H.264/HEVC files) is taken as it is, a y4m
of another layout or depth is averaged and rounded down to 8-bit 4:2:0, and any other pixel
format is converted by FFmpeg's swscale. Codecs whose output is RGB are measured after
:func:`nmc.media.rgb_to_yuv420`.
"""

from __future__ import annotations

import functools

from nmc.errors import InputError
from nmc.media import Video, read_frames


@functools.lru_cache(maxsize=2)
def load_video(path: str, frames: int, start: int = 0) -> Video:
    """Decode exactly ``frames`` frames of ``path`` starting at frame ``start`` (cached per
    process).

    Raises:
        InputError: unreadable file, or fewer than ``start + frames`` frames.
    """
    if frames < 1 or start < 0:
        raise InputError(f"need frames >= 1 and start >= 0, got frames={frames}, start={start}")
    video, _ = read_frames(path, start, frames)
    if video.num_frames < frames:
        raise InputError(
            f"{path}: has {start + video.num_frames} frames, asked for {start + frames}"
        )
    return video
