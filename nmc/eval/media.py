"""Reference media for evaluation: a video clip as decoded 8-bit YUV 4:2:0 planes.

The reference of every video measurement is the *decoded source* (DESIGN.md § 5): for a
``yuv420p`` source (the usual case: .y4m, H.264/HEVC files) its planes are taken as they are;
any other pixel format is decoded to RGB by ffmpeg and converted with
:func:`nmc.eval.metrics.rgb_to_yuv420`. Codecs whose output is RGB are measured after the same
conversion.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from nmc.errors import InputError
from nmc.eval.metrics import rgb_to_yuv420


@dataclass(frozen=True)
class VideoClip:
    """Frames ``start .. start + frames - 1`` of a video as YUV 4:2:0 planes.

    Attributes:
        y: uint8 ``[T,H,W]``; u, v: uint8 ``[T,ceil(H/2),ceil(W/2)]``.
        fps: frames per second of the source.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: Fraction

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three planes of a ``yuv420p`` PyAV frame as uint8 arrays, without line padding."""
    return tuple(
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        for plane in frame.planes
    )  # type: ignore[return-value]


_RAW_SIZE = re.compile(r"(\d+)x(\d+)")
_RAW_FPS = re.compile(r"(\d+)fps")


def _open(path: str) -> av.container.InputContainer:
    """Open ``path``; raw ``.yuv`` files take size and rate from their name (UVG style:
    ``Beauty_1920x1080_120fps_420_8bit_YUV.yuv``) and must be 8-bit 4:2:0."""
    if not path.lower().endswith(".yuv"):
        return av.open(path)
    name = Path(path).name
    size, fps = _RAW_SIZE.search(name), _RAW_FPS.search(name)
    if size is None or "10bit" in name or "_444" in name or "_422" in name:
        raise InputError(
            f"{path}: raw .yuv needs WIDTHxHEIGHT in its name and 8-bit 4:2:0 samples "
            "(convert others to .y4m with ffmpeg)"
        )
    options = {"video_size": size.group(0), "pixel_format": "yuv420p"}
    if fps is not None:
        options["framerate"] = fps.group(1)
    return av.open(path, format="rawvideo", options=options)


@functools.lru_cache(maxsize=2)
def load_video(path: str, frames: int, start: int = 0) -> VideoClip:
    """Decode ``frames`` frames of ``path`` starting at frame ``start`` (cached per process).

    Raises:
        InputError: unreadable file, or fewer than ``start + frames`` frames.
    """
    if frames < 1 or start < 0:
        raise InputError(f"need frames >= 1 and start >= 0, got frames={frames}, start={start}")
    planes = []
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or Fraction(25)
            for index, frame in enumerate(container.decode(stream)):
                if index < start:
                    continue
                if frame.format.name == "yuv420p":
                    planes.append(tuple(p.copy() for p in frame_planes(frame)))
                else:
                    planes.append(rgb_to_yuv420(frame.to_ndarray(format="rgb24")))
                if len(planes) == frames:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(f"{path}: cannot read video ({exc})") from exc
    if len(planes) < frames:
        raise InputError(f"{path}: has {start + len(planes)} frames, asked for {start + frames}")
    y, u, v = (np.stack([p[i] for p in planes]) for i in range(3))
    return VideoClip(y=y, u=u, v=v, fps=Fraction(fps))
