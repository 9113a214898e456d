"""Reading clips (y4m, anything PyAV opens, RGB arrays) and writing them (y4m, FFV1/Matroska, PNG).

Every reader returns an 8-bit 4:2:0 :class:`~nmc.video.frames.Video`; every writer is atomic
(temporary file + rename), so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from nmc.bitstream import AtomicWriter, atomic_write_bytes
from nmc.errors import InputError
from nmc.video.frames import Video, chroma_size, yuv420_to_rgb
from nmc.video.y4m import Y4mReader, Y4mWriter

INPUT_SUFFIXES = (
    ".y4m", ".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv",
    ".ivf", ".264", ".h264", ".265", ".hevc", ".nut",
)  # fmt: skip
OUTPUT_SUFFIXES = (".y4m", ".mkv", ".png")
_PNG_PATTERN = re.compile(r"%0?\d*d")


@dataclass(frozen=True)
class SourceInfo:
    """Where frames came from: ``pix_fmt`` of the source (``"yuv420p"``, ``"rgb24"`` ...)."""

    path: str
    pix_fmt: str
    bit_depth: int


def _check_range(start: int, frames: int | None) -> None:
    if start < 0:
        raise InputError(f"start must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}")


def read_video(
    source: str | os.PathLike[str] | np.ndarray | Video,
    start: int = 0,
    frames: int | None = None,
    fps: float | Fraction | None = None,
) -> tuple[Video, SourceInfo]:
    """Frames ``start .. start+frames-1`` of ``source`` as 8-bit 4:2:0.

    Args:
        source: a path (``.y4m`` or any container PyAV opens), a ``uint8 [T, H, W, 3]`` RGB
            array, or a :class:`Video`.
        start: index of the first frame to keep (0-based).
        frames: how many frames to keep (``None``: all up to the end).
        fps: frame rate for array sources (default 25); refused for files, which carry their own.
    """
    _check_range(start, frames)
    stop = None if frames is None else start + frames
    if isinstance(source, (np.ndarray, Video)):
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
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
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


def _plane(frame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    raw = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    return raw[:, : plane.width].copy()


def _read_pyav(path: Path, start: int, stop: int | None) -> tuple[Video, SourceInfo]:
    import av

    try:
        container = av.open(str(path))
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
                planes.append((_plane(frame, 0), _plane(frame, 1), _plane(frame, 2)))
                if stop is not None and index + 1 >= stop:
                    break
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{path}: decoding failed at frame {start + len(planes)} ({exc})"
            ) from exc
    return _assemble(planes, Fraction(rate), path, start), SourceInfo(str(path), pix_fmt, depth)


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
        import av

        frame = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
        for index, plane in enumerate((y, u, v)):
            target = frame.planes[index]
            buf = np.frombuffer(target, dtype=np.uint8).reshape(target.height, target.line_size)
            buf[:, : target.width] = plane
        frame.pts = self._index
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
