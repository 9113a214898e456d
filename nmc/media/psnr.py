"""PSNR of 8-bit YUV 4:2:0 planes, shared by the video codec (rate control, reports) and the
evaluation harness (RD points), so that both measure exactly alike (DESIGN.md § 5).

PSNR is computed per frame and per plane with peak 255, then averaged over frames;
PSNR-YUV = (6·Y + U + V) / 8. A frame whose MSE is zero counts as :data:`PSNR_CAP_DB` so that
one perfect frame cannot make a mean infinite.
"""

from __future__ import annotations

import numpy as np

from nmc.errors import InputError

PSNR_CAP_DB = 100.0
"""PSNR (dB) reported for a frame or channel whose MSE is exactly zero."""


def psnr_from_mse(mse: np.ndarray | float, peak: float = 255.0) -> np.ndarray:
    """PSNR in dB from mean squared error(s); zero MSE gives :data:`PSNR_CAP_DB`."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        value = 10.0 * np.log10(peak * peak / mse)
    return np.minimum(value, PSNR_CAP_DB)


def as_frames(plane: np.ndarray, name: str) -> np.ndarray:
    """``plane`` as ``[T,H,W]`` (a single ``[H,W]`` plane gains a frame axis).

    Raises:
        InputError: any other number of dimensions, naming ``name``.
    """
    plane = np.asarray(plane)
    if plane.ndim == 2:
        plane = plane[None]
    if plane.ndim != 3:
        raise InputError(
            f"{name}: expected a plane [H,W] or planes [T,H,W], got shape {plane.shape}"
        )
    return plane


def plane_psnr(ref: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Mean over frames of the per-frame PSNR (dB) of one plane.

    Args:
        ref, test: same-shape arrays ``[T,H,W]`` or ``[H,W]`` (any real dtype, 8-bit scale).
        peak: the signal peak (255 for 8-bit).
    """
    ref = as_frames(ref, "reference plane")
    test = as_frames(test, "test plane")
    if ref.shape != test.shape:
        raise InputError(f"plane shapes differ: reference {ref.shape}, test {test.shape}")
    diff = ref.astype(np.float64) - test.astype(np.float64)
    mse = np.mean(diff * diff, axis=(1, 2))
    return float(np.mean(psnr_from_mse(mse, peak)))


def psnr_planes(
    ref_yuv: tuple[np.ndarray, np.ndarray, np.ndarray],
    test_yuv: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, float]:
    """PSNR (dB) of 8-bit YUV 4:2:0 planes: per plane, and PSNR-YUV = (6·Y + U + V) / 8.

    Args:
        ref_yuv, test_yuv: ``(Y, U, V)`` with Y ``[T,H,W]`` and U, V ``[T,ceil(H/2),ceil(W/2)]``
            (or the same without the T axis), 8-bit values.

    Returns:
        ``{"y": dB, "u": dB, "v": dB, "yuv": dB}``, each the mean over frames.
    """
    if len(ref_yuv) != 3 or len(test_yuv) != 3:
        raise InputError("psnr_planes expects (Y, U, V) tuples for both reference and test")
    y, u, v = (plane_psnr(r, t) for r, t in zip(ref_yuv, test_yuv))
    return {"y": y, "u": u, "v": v, "yuv": (6.0 * y + u + v) / 8.0}
