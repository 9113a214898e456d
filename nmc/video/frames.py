"""Frames in memory: 8-bit YUV 4:2:0 planes, and the RGB <-> YCbCr conversions the codec uses.

The codec works on 8-bit 4:2:0 because that is what video codecs are measured on (DESIGN.md § 5);
RGB and 4:4:4 / 4:2:2 sources are converted on the way in. Chroma planes of an odd-sized frame are
``ceil(H/2) x ceil(W/2)``, as in FFmpeg and y4m. RGB conversion uses BT.601 limited ("video")
range, FFmpeg's default for untagged SD video, so a y4m written here plays with correct colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from nmc.errors import InputError

# BT.601 limited range: Y in [16, 235], Cb/Cr in [16, 240] around 128.
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB


def chroma_size(height: int, width: int) -> tuple[int, int]:
    """Size ``(Hc, Wc)`` of a 4:2:0 chroma plane for a ``height x width`` luma plane."""
    return (height + 1) // 2, (width + 1) // 2


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
        y, u, v = rgb_to_yuv420(rgb)
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


def check_rgb_array(rgb: object) -> np.ndarray:
    """``rgb`` as a validated ``uint8 [T, H, W, 3]`` array, or :class:`InputError`."""
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"expected a numpy array of frames, got {type(rgb).__name__}")
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise InputError(
            f"expected RGB frames shaped [T, H, W, 3], got shape {rgb.shape}; "
            "add a leading axis for a single frame"
        )
    if rgb.dtype != np.uint8:
        raise InputError(f"expected uint8 RGB frames, got dtype {rgb.dtype}; scale to 0..255 first")
    if min(rgb.shape[:3]) < 1:
        raise InputError(f"the clip is empty (shape {rgb.shape})")
    return rgb


def downsample_chroma(plane: np.ndarray, sub_y: int, sub_x: int) -> np.ndarray:
    """Average ``sub_y x sub_x`` blocks of ``float [T, H, W]`` (edges replicated for odd sizes)."""
    t, h, w = plane.shape
    ph, pw = -h % sub_y, -w % sub_x
    if ph or pw:
        plane = np.pad(plane, ((0, 0), (0, ph), (0, pw)), mode="edge")
    hh, ww = plane.shape[1] // sub_y, plane.shape[2] // sub_x
    return plane.reshape(t, hh, sub_y, ww, sub_x).mean(axis=(2, 4))


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half up and clip ``float`` samples to ``uint8``."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``uint8 [T, H, W, 3]`` RGB -> 8-bit BT.601 limited-range Y, Cb, Cr planes (4:2:0)."""
    rgb = check_rgb_array(rgb).astype(np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = _KR * r + _KG * g + _KB * b
    cb = (b - luma) / (2 * (1 - _KB))
    cr = (r - luma) / (2 * (1 - _KR))
    y = 16 + 219 * luma
    u = downsample_chroma(128 + 224 * cb, 2, 2)
    v = downsample_chroma(128 + 224 * cr, 2, 2)
    return to_uint8(y), to_uint8(u), to_uint8(v)


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour 2x upsampling of ``[T, Hc, Wc]`` chroma, cropped to ``height x width``."""
    return plane.repeat(2, axis=-2).repeat(2, axis=-1)[..., :height, :width]


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """8-bit BT.601 limited-range 4:2:0 planes (``[T, H, W]``, ``[T, Hc, Wc]`` x 2) -> RGB
    ``uint8 [T, H, W, 3]``."""
    h, w = y.shape[-2:]
    luma = (y.astype(np.float64) - 16) / 219
    cb = (upsample_chroma(u, h, w).astype(np.float64) - 128) / 224
    cr = (upsample_chroma(v, h, w).astype(np.float64) - 128) / 224
    r = luma + 2 * (1 - _KR) * cr
    b = luma + 2 * (1 - _KB) * cb
    g = (luma - _KR * r - _KB * b) / _KG
    return to_uint8(np.stack([r, g, b], axis=-1) * 255)
