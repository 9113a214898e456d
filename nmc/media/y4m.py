"""YUV4MPEG2 (.y4m) reading and writing, 8-bit 4:2:0 out, 4:2:0 / 4:2:2 / 4:4:4 / mono in.

A y4m file is one header line (``YUV4MPEG2 W176 H144 F30000:1001 Ip A1:1 C420jpeg``) followed by
frames, each a ``FRAME`` line and the raw planes. Sources deeper than 8 bits (``C420p10``, ...,
little-endian 16-bit samples) are rounded to 8 bits; 4:2:2 and 4:4:4 chroma is averaged down to
4:2:0; mono gets neutral chroma. Anything else (``C444alpha``, ``C411``) is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nmc.bitstream import atomic_open
from nmc.errors import InputError
from nmc.media.yuv import chroma_size, downsample_chroma, to_uint8

MAGIC = b"YUV4MPEG2"
_MAX_HEADER = 4096
_MAX_SIDE = 1 << 15
_COLOURSPACE = re.compile(r"^(420|422|444|mono)(jpeg|paldv|mpeg2)?(?:p?(\d+))?$")
_SUBSAMPLING = {"420": (2, 2), "422": (1, 2), "444": (1, 1), "mono": (0, 0)}


@dataclass(frozen=True)
class Y4mInfo:
    """What a y4m header says: size, rate, chroma layout (``"420"``...) and bits per sample."""

    width: int
    height: int
    fps: Fraction
    layout: str
    bit_depth: int


def _parse_header(line: bytes, where: str) -> Y4mInfo:
    tags = line.split()
    if not tags or tags[0] != MAGIC:
        raise InputError(f"{where}: not a y4m file (the first line must start with YUV4MPEG2)")
    width = height = 0
    fps = Fraction(25)
    colourspace = "420jpeg"
    for tag in tags[1:]:
        key, value = chr(tag[0]), tag[1:].decode("ascii", errors="replace")
        try:
            if key == "W":
                width = int(value)
            elif key == "H":
                height = int(value)
            elif key == "F":
                num, den = value.split(":")
                fps = Fraction(int(num), int(den))
            elif key == "C":
                colourspace = value
        except (ValueError, ZeroDivisionError) as exc:
            raise InputError(f"{where}: malformed y4m header tag {tag!r}") from exc
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise InputError(f"{where}: y4m header has no valid size (W{width} H{height})")
    if fps <= 0:
        raise InputError(f"{where}: y4m frame rate must be positive, got {fps}")
    match = _COLOURSPACE.match(colourspace)
    if not match:
        raise InputError(
            f"{where}: y4m colour space C{colourspace} is not supported "
            "(use 4:2:0, 4:2:2, 4:4:4 or mono, 8 to 16 bits; convert with ffmpeg -pix_fmt yuv420p)"
        )
    depth = int(match.group(3) or 8)
    if not 8 <= depth <= 16:
        raise InputError(f"{where}: y4m bit depth {depth} is not supported (8 to 16 bits)")
    return Y4mInfo(width, height, fps, match.group(1), depth)


def _read_line(fh: BinaryIO, where: str) -> bytes:
    line = fh.readline(_MAX_HEADER)
    if line and not line.endswith(b"\n"):
        raise InputError(f"{where}: y4m header line longer than {_MAX_HEADER} bytes (damaged file)")
    return line.rstrip(b"\n")


class Y4mReader:
    """Reads frames of a y4m file as 8-bit 4:2:0 planes.

    Use as a context manager; :attr:`info` holds the header, iterating yields
    ``(y uint8 [H, W], u uint8 [Hc, Wc], v uint8 [Hc, Wc])`` per frame.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._fh: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open ({exc.strerror})") from exc
        self.info = _parse_header(_read_line(self._fh, str(self.path)), str(self.path))
        info = self.info
        self._bytes_per_sample = 1 if info.bit_depth == 8 else 2
        luma = info.width * info.height
        sub = _SUBSAMPLING[info.layout]
        if info.layout == "mono":
            self._chroma_shape = (0, 0)
        else:
            self._chroma_shape = (-(-info.height // sub[0]), -(-info.width // sub[1]))
        chroma = self._chroma_shape[0] * self._chroma_shape[1]
        self._frame_bytes = (luma + 2 * chroma) * self._bytes_per_sample

    def __enter__(self) -> Y4mReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _samples(self, raw: bytes, count: int, shape: tuple[int, int]) -> np.ndarray:
        dtype = np.uint8 if self._bytes_per_sample == 1 else np.dtype("<u2")
        plane = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)
        if self.info.bit_depth == 8:
            return plane
        shift = self.info.bit_depth - 8
        return to_uint8(plane.astype(np.float64) / (1 << shift))

    def _to_420(self, plane: np.ndarray) -> np.ndarray:
        sub_y, sub_x = _SUBSAMPLING[self.info.layout]
        if (sub_y, sub_x) == (2, 2):
            return plane
        return to_uint8(
            downsample_chroma(plane[None].astype(np.float64), 2 // sub_y, 2 // sub_x)[0]
        )

    def skip(self, count: int) -> int:
        """Skip up to ``count`` frames without decoding them; returns how many were skipped."""
        for done in range(count):
            if not self._next_raw():
                return done
        return count

    def _next_raw(self) -> bytes | None:
        where = str(self.path)
        line = _read_line(self._fh, where)
        if not line:
            return None
        if not line.startswith(b"FRAME"):
            raise InputError(
                f"{where}: expected a FRAME marker, found {line[:16]!r} (damaged file)"
            )
        raw = self._fh.read(self._frame_bytes)
        if len(raw) != self._frame_bytes:
            raise InputError(
                f"{where}: last frame is truncated ({len(raw)} of {self._frame_bytes} bytes)"
            )
        return raw

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        info = self.info
        luma = info.width * info.height
        ch, cw = self._chroma_shape
        chroma = ch * cw
        bps = self._bytes_per_sample
        while (raw := self._next_raw()) is not None:
            y = self._samples(raw, luma, (info.height, info.width))
            if info.layout == "mono":
                u = v = np.full(chroma_size(info.height, info.width), 128, np.uint8)
            else:
                u = self._to_420(self._samples(raw[luma * bps :], chroma, (ch, cw)))
                v = self._to_420(self._samples(raw[(luma + chroma) * bps :], chroma, (ch, cw)))
            yield y, u, v


class Y4mWriter:
    """Writes 8-bit 4:2:0 frames to a y4m file; the file appears atomically on :meth:`close`."""

    def __init__(
        self, path: str | os.PathLike[str], width: int, height: int, fps: Fraction
    ) -> None:
        self.path = Path(path)
        self._shape = (height, width)
        self._chroma = chroma_size(height, width)
        self._file = atomic_open(self.path)
        self._file.write(
            f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} "
            "Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode("ascii")
        )

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Append one frame: ``uint8`` planes ``[H, W]``, ``[Hc, Wc]``, ``[Hc, Wc]``."""
        if y.shape != self._shape or u.shape != self._chroma or v.shape != self._chroma:
            raise InputError(
                f"frame planes {y.shape}/{u.shape}/{v.shape} do not match the file size"
            )
        self._file.write(b"FRAME\n")
        for plane in (y, u, v):
            self._file.write(np.ascontiguousarray(plane, dtype=np.uint8).tobytes())

    def close(self) -> None:
        self._file.commit()

    def abort(self) -> None:
        self._file.discard()
