"""The loss's plane weights follow PSNR-YUV, the metric the codec is judged on."""

from __future__ import annotations

import math

import torch

from nmc.video.planes import CHROMA, loss_weights, metric_weights, plane_mse


def _psnr_yuv(mse: torch.Tensor) -> float:
    """(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8 of plane MSEs of samples in [0, 1]."""
    psnr = [-10.0 * math.log10(float(m)) for m in mse]
    return (6.0 * psnr[0] + psnr[1] + psnr[2]) / 8.0


def test_plane_mse_is_each_planes_own_mean_squared_error():
    weights = loss_weights(17, 23)  # odd: luma positions past the edge must not count
    error = torch.zeros(6, 9, 12)
    error[:4] = 0.1
    error[4], error[5] = 0.02, 0.03
    mse = plane_mse(weights, error)
    assert torch.allclose(mse, torch.tensor([0.01, 4e-4, 9e-4]), rtol=1e-5)


def test_weighted_error_moves_as_psnr_yuv_does():
    generator = torch.Generator().manual_seed(0)
    weights = loss_weights(16, 20)
    error = torch.randn(6, 8, 10, generator=generator)
    error[:4] *= 0.05  # luma error well above chroma's, as in real fits
    error[CHROMA] *= 0.02
    mse = plane_mse(weights, error)
    matched = metric_weights(weights, mse)
    assert math.isclose(float((matched * error**2).sum()), float(mse[0]), rel_tol=1e-5)

    def ratio(w: torch.Tensor, planes: slice) -> float:
        """Change of the weighted error per dB of PSNR-YUV when ``planes`` get 1 % worse."""
        worse = error.clone()
        worse[planes] *= 1.005
        loss = float((w * worse**2).sum() - (w * error**2).sum())
        return loss / (_psnr_yuv(mse) - _psnr_yuv(plane_mse(weights, worse)))

    luma, chroma = slice(0, 4), CHROMA
    assert math.isclose(ratio(matched, luma), ratio(matched, chroma), rel_tol=0.02)
    # the plain 6:1:1 loss prices a dB of chroma far below a dB of luma
    assert ratio(weights, chroma) < 0.3 * ratio(weights, luma)


def test_factors_are_bounded():
    weights = loss_weights(8, 8)
    free = metric_weights(weights, torch.tensor([1e-3, 0.0, 1e-3]))
    assert torch.allclose(free[4], 16.0 * weights[4])  # error-free chroma does not take over
    assert torch.allclose(free[5], weights[5])
    assert torch.equal(free[:4], weights[:4])
    worse = metric_weights(weights, torch.tensor([1e-4, 1.0, 1.0]))
    assert torch.allclose(worse, weights)  # chroma behind luma keeps its 6:1:1 share
