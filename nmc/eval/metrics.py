"""Distortion metrics for video frames and point-cloud attributes.

Conventions (DESIGN.md § 5):

- Video is measured on 8-bit YUV 4:2:0 planes, peak 255, with :mod:`nmc.media.psnr` (the
  codec uses the same functions; they are re-exported here): PSNR per frame and plane, averaged
  over frames; PSNR-YUV = (6·Y + U + V) / 8; a zero MSE counts as :data:`PSNR_CAP_DB`.
- RGB frames are turned into YUV 4:2:0 with :func:`nmc.media.rgb_to_yuv420`: BT.601 limited
  range (the matrix ffmpeg's swscale uses by default for ``rgb24 -> yuv420p``), chroma taken as
  the mean of each 2×2 block (sizes rounded up, edge samples repeated for odd sizes).
- MS-SSIM is computed on the Y plane (Wang et al. 2003: five scales, 11-tap Gaussian σ = 1.5,
  K = (0.01, 0.03)); see :func:`ms_ssim`.
- Point-cloud attributes: RGB -> YCbCr BT.709 full range (Cb, Cr offset 128), PSNR per channel
  over all points with peak 255 (MPEG ``pc_error`` convention); point to point when geometry is
  lossless, symmetric nearest neighbour otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d
from scipy.spatial import cKDTree

from nmc.errors import InputError
from nmc.media.psnr import PSNR_CAP_DB, plane_psnr, psnr_from_mse, psnr_planes
from nmc.media.psnr import as_frames as _as_frames
from nmc.media.ycbcr import rgb_to_ycbcr

__all__ = [
    "PSNR_CAP_DB",
    "attribute_psnr",
    "attribute_psnr_nn",
    "ms_ssim",
    "plane_psnr",
    "psnr_from_mse",
    "psnr_planes",
    "rgb_to_ycbcr_bt709",
]

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    kernel = np.exp(-(coords**2) / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def _blur(x: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Separable 'valid' Gaussian blur of ``[N,H,W]``.

    A dimension shorter than the window gets the largest odd window that fits, so that small
    frames (QCIF has 9 rows at the fifth scale) still get a defined, smoothed statistic.
    """
    for axis in (1, 2):
        length = x.shape[axis]
        taps = min(size, length - (1 - length % 2))
        half = taps // 2
        x = correlate1d(x, _gaussian_1d(taps, sigma), axis=axis, mode="nearest")
        x = x.take(np.arange(half, length - half), axis=axis)
    return x


def _pool(x: np.ndarray) -> np.ndarray:
    """2×2 average pooling of ``[N,H,W]``; an odd side gets one zero row/column on each end
    (counted in the mean), the convention of ``torch.nn.functional.avg_pool2d`` used by
    MS-SSIM reference code."""
    pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
    x = np.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    height, width = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :height, :width]
    return x.reshape(x.shape[0], height // 2, 2, width // 2, 2).mean(axis=(2, 4))


def _ssim_terms(
    x: np.ndarray, y: np.ndarray, peak: float, size: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean SSIM and mean contrast-structure term."""
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    mu_x, mu_y = _blur(x, size, sigma), _blur(y, size, sigma)
    var_x = _blur(x * x, size, sigma) - mu_x * mu_x
    var_y = _blur(y * y, size, sigma) - mu_y * mu_y
    cov = _blur(x * y, size, sigma) - mu_x * mu_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (luminance * cs_map).mean(axis=(1, 2)), cs_map.mean(axis=(1, 2))


def ms_ssim(
    ref: np.ndarray,
    test: np.ndarray,
    peak: float = 255.0,
    window: int = 11,
    sigma: float = 1.5,
) -> float:
    """Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) of one plane, mean over frames.

    Five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2 average pooling
    between scales, negative contrast terms clamped to zero. For frames larger than 160 pixels
    on the short side this equals ``pytorch_msssim.ms_ssim``; smaller frames use a shortened
    Gaussian window at the coarse scales (see ``_blur``).

    Args:
        ref, test: same-shape planes ``[T,H,W]`` or ``[H,W]`` (use the Y plane), 8-bit scale.

    Returns:
        MS-SSIM in [0, 1] (1 = identical).
    """
    ref = _as_frames(ref, "reference plane")
    test = _as_frames(test, "test plane")
    if ref.shape != test.shape:
        raise InputError(f"plane shapes differ: reference {ref.shape}, test {test.shape}")
    if min(ref.shape[1:]) < 2 ** (len(_MS_SSIM_WEIGHTS) - 1):
        raise InputError(f"MS-SSIM needs planes at least 16×16, got {ref.shape[1:]}")
    x, y = ref.astype(np.float64), test.astype(np.float64)
    factors = []
    for level in range(len(_MS_SSIM_WEIGHTS)):
        ssim, cs = _ssim_terms(x, y, peak, window, sigma)
        if level < len(_MS_SSIM_WEIGHTS) - 1:
            factors.append(np.maximum(cs, 0.0))
            x, y = _pool(x), _pool(y)
    factors.append(np.maximum(ssim, 0.0))
    weights = np.array(_MS_SSIM_WEIGHTS)[:, None]
    return float(np.mean(np.prod(np.stack(factors) ** weights, axis=0)))


def rgb_to_ycbcr_bt709(rgb: np.ndarray) -> np.ndarray:
    """RGB to YCbCr BT.709 full range (Cb, Cr offset 128), no rounding.

    Args:
        rgb: ``[N,3]`` values in 0..255 (uint8 or float).

    Returns:
        float64 ``[N,3]`` (Y, Cb, Cr) in 0..255.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise InputError(f"expected colours [N,3], got shape {rgb.shape}")
    return rgb_to_ycbcr(rgb)


def _channel_psnr(mse: np.ndarray) -> dict[str, float]:
    y, u, v = (float(p) for p in psnr_from_mse(mse))
    return {"y": y, "u": u, "v": v, "yuv": (6.0 * y + u + v) / 8.0}


def _check_cloud(xyz: np.ndarray, rgb: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = np.asarray(xyz), np.asarray(rgb)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != xyz.shape or len(xyz) == 0:
        raise InputError(
            f"{name}: expected non-empty xyz [N,3] and rgb [N,3], got {xyz.shape} and {rgb.shape}"
        )
    return xyz, rgb


def attribute_psnr(
    ref_xyz: np.ndarray, ref_rgb: np.ndarray, test_xyz: np.ndarray, test_rgb: np.ndarray
) -> dict[str, float]:
    """Point-to-point attribute PSNR (dB) for lossless geometry (G-PCC CTC C1).

    Points are matched by their coordinates, so the two clouds may list them in any order.

    Args:
        ref_xyz, test_xyz: integer voxel coordinates ``[N,3]``, the same set of points, no
            duplicates.
        ref_rgb, test_rgb: uint8 colours ``[N,3]``.

    Returns:
        ``{"y", "u", "v", "yuv"}`` in dB (BT.709, peak 255, yuv = (6Y + U + V) / 8).
    """
    ref_xyz, ref_rgb = _check_cloud(ref_xyz, ref_rgb, "reference cloud")
    test_xyz, test_rgb = _check_cloud(test_xyz, test_rgb, "test cloud")
    ref_order = np.lexsort(ref_xyz.T)
    test_order = np.lexsort(test_xyz.T)
    if len(ref_xyz) != len(test_xyz) or not np.array_equal(
        ref_xyz[ref_order], test_xyz[test_order]
    ):
        raise InputError(
            "point-to-point attribute PSNR needs identical geometry; "
            "use attribute_psnr_nn for clouds with lossy geometry"
        )
    diff = rgb_to_ycbcr_bt709(ref_rgb[ref_order]) - rgb_to_ycbcr_bt709(test_rgb[test_order])
    return _channel_psnr(np.mean(diff * diff, axis=0))


def _nn_mse(src_xyz, src_ycc, dst_xyz, dst_ycc) -> np.ndarray:
    """Per-channel MSE between each point of ``src`` and its nearest neighbour in ``dst``."""
    _, index = cKDTree(dst_xyz).query(src_xyz, k=1, workers=-1)
    diff = src_ycc - dst_ycc[index]
    return np.mean(diff * diff, axis=0)


def attribute_psnr_nn(
    ref_xyz: np.ndarray, ref_rgb: np.ndarray, test_xyz: np.ndarray, test_rgb: np.ndarray
) -> dict[str, float]:
    """Symmetric nearest-neighbour attribute PSNR (dB), for clouds whose geometry differs.

    Each direction (reference -> test, test -> reference) pairs every point with its nearest
    neighbour in the other cloud; the symmetric value per channel is the worse (larger-MSE)
    direction, as in MPEG ``pc_error``. Ties between equidistant neighbours take the one the k-d
    tree returns first (``pc_error`` averages them; identical on lossless geometry).

    Args:
        ref_xyz, test_xyz: coordinates ``[N,3]`` and ``[M,3]``.
        ref_rgb, test_rgb: uint8 colours ``[N,3]`` and ``[M,3]``.

    Returns:
        ``{"y", "u", "v", "yuv"}`` in dB.
    """
    ref_xyz, ref_rgb = _check_cloud(ref_xyz, ref_rgb, "reference cloud")
    test_xyz, test_rgb = _check_cloud(test_xyz, test_rgb, "test cloud")
    ref_ycc, test_ycc = rgb_to_ycbcr_bt709(ref_rgb), rgb_to_ycbcr_bt709(test_rgb)
    forward = _nn_mse(ref_xyz, ref_ycc, test_xyz, test_ycc)
    backward = _nn_mse(test_xyz, test_ycc, ref_xyz, ref_ycc)
    return _channel_psnr(np.maximum(forward, backward))
