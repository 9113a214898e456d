"""Differentiable rate estimate of quantized weights under a discretized Laplace model.

Used as the :math:`\\lambda \\cdot R` term when a network is trained to be cheap to code (e.g. a
video P frame's weight step). With ``y = x / step``, the coder spends about

.. math:: R = -\\sum_i \\log_2 P(\\hat{y}_i), \\quad
          P(v) = F(v + \\tfrac12) - F(v - \\tfrac12), \\quad
          F(t) = \\tfrac12 + \\tfrac12 \\operatorname{sgn}(t)(1 - e^{-|t|/b})

bits, with :math:`\\hat{y}` the rounded value. In training, rounding is replaced by additive
uniform noise :math:`\\hat{y} = y + u,\\ u \\sim U(-\\tfrac12, \\tfrac12)` (Ballé et al., 2017),
which keeps the estimate differentiable with useful gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

_MIN_SCALE = 1e-3
_MIN_PROB = 2.0**-30


def _laplace_bin_log2_prob(y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log2 of the Laplace(0, b) mass on ``[y - 1/2, y + 1/2]``, elementwise, stable in tails."""
    a = y.abs()
    # |y| >= 1/2: P = 1/2 e^{-(a - 1/2)/b} (1 - e^{-1/b}), evaluated in the log domain.
    tail = math.log(0.5) - (a - 0.5) / b + torch.log(-torch.expm1(-1.0 / b))
    # |y| < 1/2: P = 1 - 1/2 e^{-(1/2 - a)/b} - 1/2 e^{-(1/2 + a)/b}.
    inner_a = a.clamp(max=0.5)
    centre = -0.5 * (torch.expm1(-(0.5 - inner_a) / b) + torch.expm1(-(0.5 + inner_a) / b))
    centre_log = torch.log(centre.clamp_min(_MIN_PROB))
    log_p = torch.where(a >= 0.5, tail, centre_log)
    return log_p.clamp_min(math.log(_MIN_PROB)) / math.log(2.0)


def laplace_rate_bits(
    x_over_step: torch.Tensor,
    scale: torch.Tensor | None = None,
    *,
    noise: bool | None = None,
) -> torch.Tensor:
    """Estimated bits (scalar tensor) to code ``round(x_over_step)`` with a discretized Laplace.

    Args:
        x_over_step: float tensor, any shape: values in units of the quantization step.
        scale: Laplace scale ``b`` in steps, broadcastable to ``x_over_step``; ``None`` fits it
            to the data (moment match of ``mean|ŷ|`` under the discretized law), differentiably,
            as the entropy coder fits its model to what it codes.
        noise: add ``U(-1/2, 1/2)`` instead of rounding. ``None`` (default) adds noise exactly
            when gradients flow (``x_over_step.requires_grad`` under grad mode), i.e. in
            training; otherwise values are rounded (straight-through, so still differentiable).

    Returns:
        0-d float32 tensor: total bits over all elements.
    """
    y_hat = _stand_in(x_over_step.float(), noise)
    if y_hat.numel() == 0:
        return y_hat.sum()
    if scale is None:
        b = _moment_scale(y_hat.abs().mean())
    else:
        b = torch.as_tensor(scale, dtype=torch.float32, device=y_hat.device).clamp_min(_MIN_SCALE)
    return -_laplace_bin_log2_prob(y_hat, b).sum()


def tensors_rate_bits(
    tensors: Sequence[torch.Tensor], *, noise: bool | None = None
) -> torch.Tensor:
    """``sum(laplace_rate_bits(t) for t in tensors)`` (each tensor with its own fitted scale,
    the same noise rule) in one pass over all values: a few operations instead of a few per
    tensor, which is what a fit over many small tensors spends its time on.

    Args:
        tensors: float tensors of any shapes, values in units of their quantization step.
        noise: as in :func:`laplace_rate_bits`.

    Returns:
        0-d float32 tensor: total bits.
    """
    tensors = [t for t in tensors if t.numel()]
    if not tensors:
        return torch.zeros(())
    device = tensors[0].device
    counts = torch.tensor([t.numel() for t in tensors], device=device)
    segment = torch.repeat_interleave(torch.arange(len(tensors), device=device), counts)
    y_hat = _stand_in(torch.cat([t.reshape(-1).float() for t in tensors]), noise)
    sums = torch.zeros(len(tensors), device=device).index_add(0, segment, y_hat.abs())
    b = _moment_scale(sums / counts)
    return -_laplace_bin_log2_prob(y_hat, b[segment]).sum()


def _stand_in(y: torch.Tensor, noise: bool | None) -> torch.Tensor:
    """``y`` plus uniform noise (training) or rounded with a straight-through gradient
    (``noise`` as in :func:`laplace_rate_bits`)."""
    if noise is None:
        noise = torch.is_grad_enabled() and y.requires_grad
    if noise:
        return y + torch.empty_like(y).uniform_(-0.5, 0.5)
    return y + (torch.round(y) - y).detach()


def _moment_scale(mean_abs: torch.Tensor) -> torch.Tensor:
    """The scale ``b`` whose discretized Laplace has mean ``|v|`` = ``mean_abs``:
    ``E|v| = 1 / (2 sinh(1 / (2b)))``."""
    return (0.5 / torch.asinh(0.5 / mean_abs.clamp_min(1e-6))).clamp_min(_MIN_SCALE)
