"""The frame layout the codec works in: 4:2:0 frames as six chroma-grid channels.

A frame is a ``[6, Hc, Wc]`` tensor on the 4:2:0 chroma grid: channels 0-3 are the 2x2 luma
samples that share a chroma sample (pixel-shuffle order: top-left, top-right, bottom-left,
bottom-right) and channels 4-5 are Cb and Cr, so the weighted loss, the motion warp and the
renderer all see exactly the 8-bit planes that are measured. Samples are stored as
``value / 255 - 0.5``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nmc.media import chroma_size

# PSNR-YUV weights 6:1:1 (DESIGN.md § 5).
_PLANE_WEIGHTS = (6.0 / 8.0, 1.0 / 8.0, 1.0 / 8.0)
CHROMA = slice(4, 6)
"""The Cb and Cr channels of a ``[6, Hc, Wc]`` frame."""
# Range of the chroma factors of metric_weights: a plane nearly free of error must not take
# over the loss, and chroma worse than luma (a fit that left it behind) keeps its 6:1:1 share.
_FACTOR_RANGE = (1.0, 16.0)


def to_grid(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> torch.Tensor:
    """8-bit planes ``[H, W]``, ``[Hc, Wc]``, ``[Hc, Wc]`` -> float32 ``[6, Hc, Wc]`` target."""
    height, width = y.shape
    hc, wc = chroma_size(height, width)
    luma = torch.from_numpy(np.pad(y, ((0, 2 * hc - height), (0, 2 * wc - width)), mode="edge"))
    luma = F.pixel_unshuffle(luma[None].float(), 2)
    chroma = torch.from_numpy(np.stack([u, v])).float()
    return torch.cat([luma, chroma]) / 255.0 - 0.5


def loss_weights(height: int, width: int) -> torch.Tensor:
    """float32 ``[6, Hc, Wc]`` weights so ``sum(w * err**2)`` is the 6:1:1 weighted plane MSE.

    Luma positions that fall outside an odd-sized frame get weight 0.
    """
    hc, wc = chroma_size(height, width)
    inside = torch.zeros(1, 1, 2 * hc, 2 * wc)
    inside[..., :height, :width] = 1.0
    luma = F.pixel_unshuffle(inside, 2)[0] * (_PLANE_WEIGHTS[0] / (height * width))
    chroma = torch.full((2, hc, wc), 1.0 / (hc * wc))
    chroma[0] *= _PLANE_WEIGHTS[1]
    chroma[1] *= _PLANE_WEIGHTS[2]
    return torch.cat([luma, chroma])


def plane_mse(weights: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """float ``[3]``: the mean squared error of Y, Cb and Cr (samples in ``[0, 1]`` units) of a
    ``[6, Hc, Wc]`` ``error``, under :func:`loss_weights` (detached from autograd)."""
    weighted = weights * error.detach() ** 2
    sums = torch.stack([weighted[:4].sum(), weighted[4].sum(), weighted[5].sum()])
    return sums / sums.new_tensor(_PLANE_WEIGHTS)


def metric_weights(weights: torch.Tensor, mse: torch.Tensor) -> torch.Tensor:
    """:func:`loss_weights` ``[6, Hc, Wc]`` with each chroma plane's scaled by ``MSE_Y /
    MSE_c`` (``mse``: the ``[3]`` plane MSEs of the operating point, :func:`plane_mse`), so
    the weighted MSE moves as PSNR-YUV does.

    PSNR-YUV is ``(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8``, a mean of *logarithms*: for small
    changes of the plane MSEs it changes by ``-(10 / ln 10) / 8 * (6 dM_Y / M_Y + dM_Cb / M_Cb
    + dM_Cr / M_Cr)``. The plain 6:1:1 MSE weighs ``6 dM_Y + dM_Cb + dM_Cr`` instead, which
    undervalues chroma wherever its error is below luma's (nearly always: chroma planes are
    smooth): at carphone's low rates ``M_Y / M_c`` is 5-6, so a unit of chroma error is worth
    five times what the plain loss said. With these weights the loss at the operating point
    equals ``M_Y`` and its changes are the metric's, in luma-MSE units, so ``lambda`` keeps its
    meaning. Factors are clamped to ``[1, 16]``: chroma never weighs less than its 6:1:1 share,
    which is what the metric asks where chroma is worse than luma, but there it is nearly
    always a fit that left chroma behind and must not be pushed further from it.
    """
    factor = (mse[0] / mse[1:].clamp_min(1e-12)).clamp(*_FACTOR_RANGE)
    return torch.cat([weights[:4], weights[CHROMA] * factor.to(weights)[:, None, None]])


def from_grid(
    grid: torch.Tensor, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[6, Hc, Wc]`` network output -> uint8 planes ``(y [H, W], u [Hc, Wc], v [Hc, Wc])``.

    Rounds half up after clamping, the same on every platform.
    """
    samples = torch.floor((grid.detach().float().cpu() + 0.5) * 255.0 + 0.5).clamp_(0, 255)
    luma = F.pixel_shuffle(samples[None, :4], 2)[0, 0, :height, :width]
    hc, wc = chroma_size(height, width)
    as_u8 = lambda t: t.to(torch.uint8).numpy()  # noqa: E731
    return as_u8(luma), as_u8(samples[4, :hc, :wc]), as_u8(samples[5, :hc, :wc])
