"""Reading clips from files as 8-bit 4:2:0 :class:`~nmc.media.frames.Video`.

The video codec reads its input here and the evaluation harness its reference, so a codec under
test codes exactly the frames it is measured against. ``.y4m`` goes through the own reader of
:mod:`nmc.media.y4m` (other chroma layouts averaged down to 4:2:0, deeper samples rounded to 8
bits); raw ``.yuv`` takes its size and rate from the file name; anything else PyAV opens is
decoded by FFmpeg, ``yuv420p`` frames taken as they are and other pixel formats converted by
FFmpeg's swscale.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nmc.errors import InputError
from nmc.media.avframe import frame_planes
from nmc.media.frames import Video
from nmc.media.y4m import Y4mReader
from nmc.media.yuv import chroma_size

if TYPE_CHECKING:
    import av

INPUT_SUFFIXES = (
    ".y4m", ".yuv", ".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts",
    ".flv", ".ivf", ".264", ".h264", ".265", ".hevc", ".nut",
)  # fmt: skip
_RAW_SIZE = re.compile(r"(\d+)x(\d+)")
_RAW_FPS = re.compile(r"(\d+)fps")


@dataclass(frozen=True)
class SourceInfo:
    """Where frames came from: ``pix_fmt`` of the source (``"yuv420p"``, ``"rgb24"`` ...)."""

    path: str
    pix_fmt: str
    bit_depth: int


def check_range(start: int, frames: int | None) -> None:
    """:class:`InputError` unless ``start >= 0`` and ``frames`` is ``None`` or ``>= 1``."""
    if start < 0:
        raise InputError(f"start must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}")


def read_frames(
    path: str | os.PathLike[str], start: int = 0, frames: int | None = None
) -> tuple[Video, SourceInfo]:
    """Frames ``start .. start+frames-1`` of the file ``path`` (fewer where the clip ends).

    Args:
        path: ``.y4m``, raw 8-bit 4:2:0 ``.yuv`` named like ``Beauty_1920x1080_120fps_...yuv``,
            or any container PyAV opens.
        start: index of the first frame to keep (0-based).
        frames: how many frames to keep (``None``: all up to the end).

    Raises:
        InputError: missing or unreadable file, no frame at or after ``start``.
    """
    check_range(start, frames)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    stop = None if frames is None else start + frames
    if path.suffix.lower() == ".y4m":
        return _read_y4m(path, start, stop)
    return _read_pyav(path, start, stop)


def _assemble(planes: list, fps: Fraction, path: Path, start: int) -> Video:
    if not planes:
        raise InputError(f"{path}: no frames at or after start {start} (the clip is shorter)")
    y, u, v = (np.stack(p) for p in zip(*planes, strict=True))
    return Video(y, u, v, fps)


def _read_y4m(path: Path, start: int, stop: int | None) -> tuple[Video, SourceInfo]:
    with Y4mReader(path) as reader:
        reader.skip(start)
        planes = []
        for planes_t in reader:
            planes.append(planes_t)
            if stop is not None and start + len(planes) >= stop:
                break
        info = reader.info
    layout = {"mono": "gray"}.get(info.layout, f"yuv{info.layout}p")
    suffix = "" if info.bit_depth == 8 else f"{info.bit_depth}le"
    return _assemble(planes, info.fps, path, start), SourceInfo(
        str(path), layout + suffix, info.bit_depth
    )


def _open(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV; raw ``.yuv`` (UVG style ``Beauty_1920x1080_120fps_420_8bit_YUV``)
    must be 8-bit 4:2:0 and name its size (and rate, else 25)."""
    import av

    if path.suffix.lower() != ".yuv":
        return av.open(str(path))
    size, fps = _RAW_SIZE.search(path.name), _RAW_FPS.search(path.name)
    if size is None or any(tag in path.name for tag in ("10bit", "_444", "_422")):
        raise InputError(
            f"{path}: raw .yuv needs WIDTHxHEIGHT in its name and 8-bit 4:2:0 samples "
            "(convert others to .y4m with ffmpeg)"
        )
    width, height = int(size.group(1)), int(size.group(2))
    chroma_height, chroma_width = chroma_size(height, width)
    frame_bytes = width * height + 2 * chroma_height * chroma_width
    whole, extra = divmod(path.stat().st_size, frame_bytes)
    if extra:
        raise InputError(
            f"{path}: {whole} whole {width}x{height} 4:2:0 frames and {extra} bytes more "
            "(truncated, or the size in the name is wrong)"
        )
    options = {"video_size": size.group(0), "pixel_format": "yuv420p"}
    if fps is not None:
        options["framerate"] = fps.group(1)
    return av.open(str(path), format="rawvideo", options=options)


def _read_pyav(path: Path, start: int, stop: int | None) -> tuple[Video, SourceInfo]:
    import av

    try:
        container = _open(path)
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: cannot open as a video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        fmt = stream.format
        pix_fmt = fmt.name if fmt is not None else "unknown"
        depth = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
        planes = []
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index < start:
                    continue
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                planes.append(frame_planes(frame))
                if stop is not None and index + 1 >= stop:
                    break
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{path}: decoding failed at frame {start + len(planes)} ({exc})"
            ) from exc
    return _assemble(planes, Fraction(rate), path, start), SourceInfo(str(path), pix_fmt, depth)
