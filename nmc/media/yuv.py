"""8-bit YUV 4:2:0 planes: chroma sizes, resampling, and BT.601 RGB <-> YCbCr.

Video is coded and measured on 8-bit 4:2:0 (DESIGN.md § 5). Chroma planes of an odd-sized frame
are ``ceil(H/2) x ceil(W/2)``, as in FFmpeg and y4m. RGB conversion uses BT.601 limited ("video")
range, the matrix FFmpeg's swscale uses by default for ``rgb24 -> yuv420p``, so a y4m written
from it plays with correct colours; chroma is the mean of each 2×2 block (edge samples repeated
for odd sizes), where swscale uses its own filter (luma equals swscale's to ±1, chroma differs by
less than 1 on average).
"""

from __future__ import annotations

import numpy as np

from nmc.errors import InputError

# BT.601 limited range: Y in [16, 235], Cb/Cr in [16, 240] around 128.
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB


def chroma_size(height: int, width: int) -> tuple[int, int]:
    """Size ``(Hc, Wc)`` of a 4:2:0 chroma plane for a ``height x width`` luma plane."""
    return (height + 1) // 2, (width + 1) // 2


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


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour 2x upsampling of ``[T, Hc, Wc]`` chroma, cropped to ``height x width``."""
    return plane.repeat(2, axis=-2).repeat(2, axis=-1)[..., :height, :width]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half up and clip ``float`` samples to ``uint8``."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB frames to 8-bit BT.601 limited-range Y, Cb, Cr planes (4:2:0, 2×2 mean chroma).

    Args:
        rgb: uint8 ``[T, H, W, 3]`` (or one frame ``[H, W, 3]``), RGB order.

    Returns:
        ``(Y, U, V)`` uint8; Y ``[T, H, W]``, U and V ``[T, ceil(H/2), ceil(W/2)]`` (no T axis
        when the input had none).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim == 3:
        return tuple(plane[0] for plane in rgb_to_yuv420(rgb[None]))  # type: ignore[return-value]
    rgb = check_rgb_array(rgb).astype(np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = _KR * r + _KG * g + _KB * b
    cb = (b - luma) / (2 * (1 - _KB))
    cr = (r - luma) / (2 * (1 - _KR))
    y = 16 + 219 * luma
    u = downsample_chroma(128 + 224 * cb, 2, 2)
    v = downsample_chroma(128 + 224 * cr, 2, 2)
    return to_uint8(y), to_uint8(u), to_uint8(v)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """8-bit BT.601 limited-range 4:2:0 planes (``[T, H, W]``, ``[T, Hc, Wc]`` x 2) -> RGB
    ``uint8 [T, H, W, 3]`` (chroma upsampled by repetition)."""
    h, w = y.shape[-2:]
    luma = (y.astype(np.float64) - 16) / 219
    cb = (upsample_chroma(u, h, w).astype(np.float64) - 128) / 224
    cr = (upsample_chroma(v, h, w).astype(np.float64) - 128) / 224
    r = luma + 2 * (1 - _KR) * cr
    b = luma + 2 * (1 - _KB) * cb
    g = (luma - _KR * r - _KB * b) / _KG
    return to_uint8(np.stack([r, g, b], axis=-1) * 255)
