"""Fitting: an I frame's latents and networks, and the machinery P frames share with it
(relaxed rounding, schedule, optimizer; the P-frame fit itself is in :mod:`nmc.video.inter`).

Every fit minimizes the same Lagrangian, distortion plus rate:

.. math:: J = \\sum w \\odot (f_\\theta - x)^2 + \\lambda \\, \\frac{R}{H W}

(plane MSEs of samples in ``[-0.5, 0.5]`` weighted so the loss follows PSNR-YUV,
:func:`nmc.video.planes.metric_weights`: 6:1:1 with chroma's scaled by ``MSE_Y / MSE_c``;
``R`` in bits, so ``lambda`` is in luma MSE per bit-per-pixel). Integer-valued quantities
(latents, and every coded step) are relaxed as in C3 / Cool-chic:
``softround(softround(x, t) + n, t)`` with Gaussian noise ``n`` whose deviation and
temperature ``t`` decrease during the fit, then rounded with straight-through gradients
(softround's slope backwards) for the last ``ste_fraction`` of the steps at a small learning
rate, so the end of the fit sees the integers that will actually be coded. Latents are fitted
as ``y / LATENT_GAIN`` so Adam's steps are a sizeable fraction of a quantization step. ``R``
counts every coded part: the latents under the frame's context model (I frames) and network
weights or steps as zero-mean Laplace integers at their step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import torch

from nmc.video.frame_model import (
    FrameModel,
    context_bits,
    latent_names,
    level_list,
    render_state,
)
from nmc.video.latents import MAX_LATENT
from nmc.video.planes import metric_weights, plane_mse
from nmc.weights import tensors_rate_bits

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FitSettings:
    """One fitting run.

    Args:
        steps: Adam iterations.
        lr: peak learning rate.
        lam: rate weight ``lambda`` (MSE per bpp).
        weight_step: quantization step the rate term assumes for network weights (I frames)
            or for network steps (P frames).
        ste_fraction: final fraction of the steps trained on rounded values.
        warmup: fraction of the steps spent ramping the learning rate up.
    """

    steps: int
    lr: float
    lam: float
    weight_step: float
    ste_fraction: float = 0.1
    warmup: float = 0.0


LATENT_GAIN = 16.0
_TEMPERATURE = (0.3, 0.1)
_NOISE = (0.25, 0.1)
_STE_TEMPERATURE = 1e-2
_STE_LR = 0.02
# Adam's moment decays for network tensors (Cool-chic's for its networks). With the default
# (0.9, 0.999) the networks lag the latents: carphone frame 80, conv q8, 2500 steps, 38.0 kbit
# @ 40.49 dB PSNR-YUV with the default against 36.1 kbit @ 41.17 dB (docs/video.md).
NETWORK_BETAS = (0.95, 0.95)


def softround(x: torch.Tensor, t: float) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis 2020): ``round(x)`` as ``t -> 0``, identity
    as ``t`` grows."""
    floor = torch.floor(x)
    delta = x - floor - 0.5
    return floor + 0.5 * torch.tanh(delta / t) / math.tanh(0.5 / t) + 0.5


def relax(x: torch.Tensor, progress: float | None) -> torch.Tensor:
    """Training stand-in for ``round(x)``.

    ``progress`` in ``[0, 1]``: softround + Gaussian noise + softround, temperature and noise
    annealed with the progress; ``None``: exact rounding forwards, softround's gradient
    backwards (straight-through).
    """
    if progress is None:
        soft = softround(x, _STE_TEMPERATURE)
        return soft + (torch.round(x) - soft).detach()
    t = _TEMPERATURE[0] + (_TEMPERATURE[1] - _TEMPERATURE[0]) * progress
    sigma = _NOISE[0] + (_NOISE[1] - _NOISE[0]) * progress
    return softround(softround(x, t) + sigma * torch.randn_like(x), t)


def relax_latent(fitted: torch.Tensor, progress: float | None) -> torch.Tensor:
    """A latent grid fitted as ``y / LATENT_GAIN``: scaled back, clamped to the coder's range
    and relaxed (:func:`relax`)."""
    return relax((fitted * LATENT_GAIN).clamp(-MAX_LATENT, MAX_LATENT), progress)


def _lr_factor(i: int, settings: FitSettings) -> float:
    """One-cycle schedule: linear warm-up, then cosine decay to 5 % of the peak."""
    ramp = settings.warmup * settings.steps
    if i < ramp:
        return (i + 1) / ramp
    progress = (i - ramp) / max(settings.steps - ramp, 1)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def optimize(
    variables: State,
    loss_fn: Callable[[float | None], tuple[torch.Tensor, torch.Tensor]],
    settings: FitSettings,
    pixels: int,
    networks: Collection[str] = (),
) -> None:
    """Adam on ``variables`` (in place); ``loss_fn(progress)`` returns (distortion, bits), with
    ``progress`` the fraction of the relaxed phase done, or None in the straight-through phase
    (learning rate ``_STE_LR`` times the peak). The variables named in ``networks`` use the
    moment decays ``NETWORK_BETAS``, the others Adam's default."""
    if not variables or settings.steps <= 0:
        return
    others = [v for n, v in variables.items() if n not in networks]
    tuned = [v for n, v in variables.items() if n in networks]
    groups = [{"params": others}, {"params": tuned, "betas": NETWORK_BETAS}]
    opt = torch.optim.Adam([g for g in groups if g["params"]], lr=settings.lr, fused=True)
    ste_from = settings.steps - int(settings.ste_fraction * settings.steps)
    main = FitSettings(ste_from, settings.lr, settings.lam, settings.weight_step,
                       warmup=settings.warmup)  # fmt: skip
    for i in range(settings.steps):
        relaxed = i < ste_from
        factor = _lr_factor(i, main) if relaxed else _STE_LR
        for group in opt.param_groups:
            group["lr"] = settings.lr * factor
        distortion, bits = loss_fn(i / max(ste_from, 1) if relaxed else None)
        loss = distortion + settings.lam * bits / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def distortion(
    model: FrameModel, state: Mapping[str, torch.Tensor], target: torch.Tensor, weights
) -> torch.Tensor:
    """``sum(weights * (render - target)^2)``: the 6:1:1 weighted MSE (0-d tensor)."""
    return (weights * (render_state(model, state) - target) ** 2).sum()


def frame_terms(
    model: FrameModel, state: Mapping[str, torch.Tensor], target: torch.Tensor, weights
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distortion, latent bits)`` of an I-frame state being fitted (0-d tensors): the
    squared error under :func:`nmc.video.planes.metric_weights` at the state's own current
    plane errors (so each step of a fit follows PSNR-YUV, whatever the balance of its planes
    has become), and the bits of its latents under its own context model."""
    error = render_state(model, state) - target
    matched = metric_weights(weights, plane_mse(weights, error))
    bits = context_bits(model, state, level_list(state, model.spec.levels))
    return (matched * error**2).sum(), bits


def weight_bits(tensors: Mapping[str, torch.Tensor], step: float) -> torch.Tensor:
    """Estimated bits of network tensors coded as Laplace integers at ``step`` (0-d)."""
    return tensors_rate_bits([t / step for t in tensors.values()])


def fit_intra(
    model: FrameModel,
    start: Mapping[str, torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor,
    settings: FitSettings,
    prior: Mapping[str, torch.Tensor] | None = None,
) -> State:
    """Fit latents, synthesis and context model of one frame from ``start``.

    Args:
        model: the frame model (its own parameters are not touched).
        start: name -> float32 initial tensors (the network prior, a random start or a previous
            frame's state).
        target, weights: ``[6, Hc, Wc]`` frame and loss weights (:mod:`nmc.video.planes`).
        settings: the fit.
        prior: name -> network tensors the coded weights are relative to (same device as
            ``target``; None: zero), :mod:`nmc.video.prior`.

    Returns:
        name -> float32 fitted tensors (latents not yet rounded, networks not quantized).
    """
    names = latent_names(model.spec)
    variables = {n: t.detach().clone() for n, t in start.items()}
    for name in names:
        variables[name] = variables[name] / LATENT_GAIN
    for value in variables.values():
        value.requires_grad_(True)

    network_names = [n for n in variables if n not in names]

    def loss_fn(progress: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        used = dict(variables)
        for name in names:
            used[name] = relax_latent(variables[name], progress)
        networks = {
            n: variables[n] if prior is None else variables[n] - prior[n] for n in network_names
        }
        error, bits = frame_terms(model, used, target, weights)
        return error, bits + weight_bits(networks, settings.weight_step)

    optimize(variables, loss_fn, settings, model.height * model.width, network_names)
    fitted = {n: v.detach() for n, v in variables.items()}
    for name in names:
        fitted[name] = fitted[name] * LATENT_GAIN
    return fitted
