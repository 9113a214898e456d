"""Reading clips (files, RGB arrays) and writing them (y4m, FFV1/Matroska, PNG).

Files are read by :func:`nmc.media.read_frames`, the reader the evaluation harness measures
against; every reader returns an 8-bit 4:2:0 :class:`~nmc.media.Video`. Every writer is atomic
(temporary file + rename), so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import io
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from nmc.bitstream import AtomicWriter, atomic_write_bytes
from nmc.errors import InputError
from nmc.media import (
    SourceInfo,
    Video,
    chroma_size,
    planes_frame,
    read_frames,
    yuv420_to_rgb,
)
from nmc.media.reader import check_range
from nmc.media.y4m import Y4mWriter

OUTPUT_SUFFIXES = (".y4m", ".mkv", ".png")
_PNG_PATTERN = re.compile(r"%0?\d*d")


def read_video(
    source: str | os.PathLike[str] | np.ndarray | Video,
    start: int = 0,
    frames: int | None = None,
    fps: float | Fraction | None = None,
) -> tuple[Video, SourceInfo]:
    """Frames ``start .. start+frames-1`` of ``source`` as 8-bit 4:2:0.

    Args:
        source: a path (see :func:`nmc.media.read_frames`: ``.y4m``, raw ``.yuv`` or any
            container PyAV opens), a ``uint8 [T, H, W, 3]`` RGB array, or a :class:`Video`.
        start: index of the first frame to keep (0-based).
        frames: how many frames to keep (``None``: all up to the end).
        fps: frame rate for array sources (default 25); refused for files, which carry their own.
    """
    check_range(start, frames)
    if isinstance(source, (np.ndarray, Video)):
        stop = None if frames is None else start + frames
        video = source if isinstance(source, Video) else Video.from_rgb(source, fps or Fraction(25))
        if fps is not None and isinstance(source, Video):
            video = Video(video.y, video.u, video.v, Fraction(fps).limit_denominator(1_000_000))
        if start >= video.num_frames:
            raise InputError(
                f"start {start} is past the end of the clip ({video.num_frames} frames)"
            )
        kind = "video" if isinstance(source, Video) else "rgb24"
        return video.slice(start, stop or video.num_frames), SourceInfo("<array>", kind, 8)
    if fps is not None:
        raise InputError("fps applies to array sources only; a file carries its own frame rate")
    return read_frames(source, start, frames)


class FrameWriter(AtomicWriter):
    """Writes 8-bit 4:2:0 frames one at a time to ``.y4m``, ``.mkv`` (FFV1, lossless) or PNGs.

    PNG output: a name with a printf pattern (``frame_%04d.png``) is used as is; a plain name
    ``clip.png`` becomes ``clip_00000.png``, ``clip_00001.png`` ... Frames appear atomically;
    a ``.y4m`` or ``.mkv`` file appears only on :meth:`close`. Use as a context manager.
    """

    def __init__(
        self, path: str | os.PathLike[str], width: int, height: int, fps: Fraction
    ) -> None:
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in OUTPUT_SUFFIXES:
            raise InputError(
                f"{self.path}: unknown output type {self.suffix or '(none)'}; "
                f"use one of {', '.join(OUTPUT_SUFFIXES)}"
            )
        if not self.path.parent.is_dir():
            raise InputError(f"output folder {self.path.parent} does not exist")
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self.count = 0
        self._y4m = Y4mWriter(path, width, height, self.fps) if self.suffix == ".y4m" else None
        self._mkv = _FfvWriter(width, height, self.fps) if self.suffix == ".mkv" else None

    def png_path(self, index: int) -> Path:
        """File name of frame ``index`` in a PNG sequence."""
        name = self.path.name
        if _PNG_PATTERN.search(name):
            return self.path.with_name(_PNG_PATTERN.sub(lambda m: m.group(0) % index, name, 1))
        return self.path.with_name(f"{self.path.stem}_{index:05d}{self.path.suffix}")

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Append one frame: ``uint8`` planes ``[H, W]``, ``[Hc, Wc]``, ``[Hc, Wc]``."""
        if y.shape != (self.height, self.width) or u.shape != chroma_size(self.height, self.width):
            raise InputError(
                f"frame of size {y.shape} does not match the output {self.height}x{self.width}"
            )
        if self._y4m is not None:
            self._y4m.write(y, u, v)
        elif self._mkv is not None:
            self._mkv.write(y, u, v)
        else:
            from PIL import Image

            rgb = yuv420_to_rgb(y[None], u[None], v[None])[0]
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="PNG")
            atomic_write_bytes(self.png_path(self.count), buffer.getvalue())
        self.count += 1

    def close(self) -> None:
        if self._y4m is not None:
            self._y4m.close()
        elif self._mkv is not None:
            atomic_write_bytes(self.path, self._mkv.finish())

    def abort(self) -> None:
        if self._y4m is not None:
            self._y4m.abort()


class _FfvWriter:
    """FFV1 (lossless) in Matroska, muxed into memory; FFV1 needs no even sizes."""

    def __init__(self, width: int, height: int, fps: Fraction) -> None:
        import av

        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="matroska")
        self._stream = self._container.add_stream("ffv1", rate=fps)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._index = 0

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        frame = planes_frame(y, u, v, self._index)
        self._index += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> bytes:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self._buffer.getvalue()


def write_video(video: Video, path: str | os.PathLike[str]) -> None:
    """Write every frame of ``video`` to ``path`` (``.y4m``, ``.mkv`` or ``.png`` sequence)."""
    with FrameWriter(path, video.width, video.height, video.fps) as writer:
        for index in range(video.num_frames):
            writer.write(*video.frame(index))
