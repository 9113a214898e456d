"""A clip in memory: 8-bit YUV 4:2:0 planes and its frame rate."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from nmc.errors import InputError
from nmc.media.yuv import check_rgb_array, chroma_size, rgb_to_yuv420, yuv420_to_rgb


@dataclass(frozen=True)
class Video:
    """A clip as 8-bit YUV 4:2:0 planes.

    Attributes:
        y: ``uint8 [T, H, W]`` luma.
        u: ``uint8 [T, ceil(H/2), ceil(W/2)]`` Cb.
        v: ``uint8 [T, ceil(H/2), ceil(W/2)]`` Cr.
        fps: frames per second as an exact fraction (e.g. ``30000/1001``).
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: Fraction

    def __post_init__(self) -> None:
        for name in ("y", "u", "v"):
            plane = getattr(self, name)
            if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
                raise InputError(f"Video.{name} must be a uint8 array [T, H, W]")
        t, h, w = self.y.shape
        if self.u.shape != (t, *chroma_size(h, w)) or self.v.shape != self.u.shape:
            raise InputError(
                f"Video chroma planes must be [T, ceil(H/2), ceil(W/2)] = "
                f"{(t, *chroma_size(h, w))}, "
                f"got {self.u.shape} and {self.v.shape}"
            )
        if self.fps <= 0:
            raise InputError(f"Video.fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(y, u, v)``, the form the metrics of :mod:`nmc.eval.metrics` take."""
        return self.y, self.u, self.v

    def __len__(self) -> int:
        return self.num_frames

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        """``np.asarray(video)``: the RGB frames of :meth:`rgb`."""
        rgb = self.rgb()
        return rgb if dtype is None else rgb.astype(dtype)

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Planes ``(y [H, W], u [Hc, Wc], v [Hc, Wc])`` of frame ``index``, uint8."""
        return self.y[index], self.u[index], self.v[index]

    def slice(self, start: int, stop: int) -> Video:
        """Frames ``start .. stop-1`` as a new :class:`Video` (views, no copy)."""
        return Video(self.y[start:stop], self.u[start:stop], self.v[start:stop], self.fps)

    def rgb(self) -> np.ndarray:
        """The clip as ``uint8 [T, H, W, 3]`` RGB (BT.601 limited range, chroma upsampled)."""
        return yuv420_to_rgb(self.y, self.u, self.v)

    @staticmethod
    def from_rgb(rgb: np.ndarray, fps: Fraction | float = Fraction(25)) -> Video:
        """A :class:`Video` from ``uint8 [T, H, W, 3]`` RGB frames."""
        y, u, v = rgb_to_yuv420(check_rgb_array(rgb))
        return Video(y, u, v, Fraction(fps).limit_denominator(1_000_000))

    @staticmethod
    def concat(parts: list[Video]) -> Video:
        """Frames of ``parts`` one after the other (same size and rate)."""
        if not parts:
            raise InputError("cannot concatenate zero videos")
        return Video(
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.u for p in parts]),
            np.concatenate([p.v for p in parts]),
            parts[0].fps,
        )
