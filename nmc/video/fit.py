"""Fitting loops: an I frame's weights from scratch or a warm start, a P frame's weight step.

Both minimize the same Lagrangian, distortion plus rate:

.. math:: J = \\sum w \\odot (f_\\theta - x)^2 + \\lambda \\, \\frac{R(\\cdot)}{H W}

(6:1:1 weighted plane MSE of samples in ``[-0.5, 0.5]``; ``R`` in bits from
:func:`nmc.weights.laplace_rate_bits` with additive-noise relaxation, so ``lambda`` is in MSE per
bit-per-pixel). Training is quantization-aware: for the last ``qat_fraction`` of the steps the
forward pass sees the rounded values (straight-through gradients), so the network adapts to the
integers that will actually be coded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from nmc.video.networks import UpdatePlan, factor_shapes, lowrank_step
from nmc.weights import laplace_rate_bits

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FitSettings:
    """One fitting run.

    Args:
        steps: Adam iterations.
        lr: peak learning rate.
        step: quantization step of the coded values (weights for I, updates for P).
        lam: rate weight ``lambda`` (MSE per bpp); 0 fits distortion only.
        qat_fraction: final fraction of the steps trained on rounded values.
        warmup: fraction of the steps spent ramping the learning rate up (0 = cosine decay only).
    """

    steps: int
    lr: float
    step: float
    lam: float
    qat_fraction: float = 0.3
    warmup: float = 0.0


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _lr_factor(i: int, settings: FitSettings) -> float:
    """One-cycle schedule: linear warm-up, then cosine decay to 5 % of the peak."""
    ramp = settings.warmup * settings.steps
    if i < ramp:
        return (i + 1) / ramp
    progress = (i - ramp) / max(settings.steps - ramp, 1)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _optimize(
    variables: State,
    loss_fn: Callable[[bool], tuple[torch.Tensor, torch.Tensor]],
    settings: FitSettings,
) -> None:
    """Adam on ``variables`` (in place); ``loss_fn(quantized)`` returns (distortion, bits)."""
    params = list(variables.values())
    if not params or settings.steps <= 0:
        return
    opt = torch.optim.Adam(params, lr=settings.lr)
    qat_from = settings.steps - int(settings.qat_fraction * settings.steps)
    for i in range(settings.steps):
        for group in opt.param_groups:
            group["lr"] = settings.lr * _lr_factor(i, settings)
        distortion, bits = loss_fn(i >= qat_from)
        loss = distortion + settings.lam * bits if settings.lam > 0 else distortion
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _coded(variables: State, settings: FitSettings, quantized: bool) -> tuple[State, torch.Tensor]:
    """The values the forward pass uses (rounded to the step when ``quantized``, with
    straight-through gradients) and their estimated bits (0 when ``lam`` is 0)."""
    scaled = {n: v / settings.step for n, v in variables.items()}
    used = {n: (_round_ste(s) if quantized else s) * settings.step for n, s in scaled.items()}
    if settings.lam <= 0:
        return used, torch.zeros(())
    return used, sum(laplace_rate_bits(s) for s in scaled.values())


def _distortion(net: nn.Module, state: Mapping[str, torch.Tensor], target, weights) -> torch.Tensor:
    out = torch.func.functional_call(net, dict(state), ())
    return (weights * (out - target) ** 2).sum()


def fit_intra(
    net: nn.Module,
    start: Mapping[str, torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor,
    settings: FitSettings,
) -> State:
    """Fit all weights of ``net`` to one frame, starting from ``start`` (random or a previous
    frame's decoded weights).

    Args:
        net: the network (its own parameters are not touched).
        start: name -> float32 initial tensor.
        target, weights: ``[6, Hc, Wc]`` frame and loss weights (:mod:`nmc.video.planes`).
        settings: ``step`` is the weights' quantization step.

    Returns:
        name -> float32 fitted weights (not yet quantized).
    """
    pixels = net.height * net.width
    variables = {n: t.detach().clone().requires_grad_(True) for n, t in start.items()}

    def loss_fn(quantized: bool) -> tuple[torch.Tensor, torch.Tensor]:
        used, bits = _coded(variables, settings, quantized)
        return _distortion(net, used, target, weights), bits / pixels

    _optimize(variables, loss_fn, settings)
    return {n: v.detach() for n, v in variables.items()}


def fit_update(
    net: nn.Module,
    reference: Mapping[str, torch.Tensor],
    plan: UpdatePlan,
    target: torch.Tensor,
    weights: torch.Tensor,
    settings: FitSettings,
    generator: torch.Generator,
) -> tuple[State, State]:
    """Fit a P frame's weight step from the decoded ``reference`` weights (closed loop).

    Args:
        net: the network (its own parameters are not touched).
        reference: the previous frame's *decoded* weights (name -> float32).
        plan: which tensors move densely and which by low-rank factors.
        target, weights: ``[6, Hc, Wc]`` frame and loss weights.
        settings: ``step`` is the update's quantization step.
        generator: draws the initial ``V`` factors (encoder-side only).

    Returns:
        ``(steps, factors)``: name -> float32 dense step for ``plan.dense``, and
        ``"<name>.u"`` / ``"<name>.v"`` -> float32 factors for ``plan.lowrank``.
    """
    pixels = net.height * net.width
    device = next(iter(reference.values())).device
    variables: State = {}
    for name in plan.dense:
        variables[name] = torch.zeros_like(reference[name], requires_grad=True)
    for name in plan.lowrank:
        u_shape, v_shape = factor_shapes(reference[name].shape, plan.rank)
        v0 = torch.randn(v_shape, generator=generator) * settings.step
        variables[name + ".u"] = torch.zeros(u_shape, device=device, requires_grad=True)
        variables[name + ".v"] = v0.to(device).requires_grad_(True)

    def loss_fn(quantized: bool) -> tuple[torch.Tensor, torch.Tensor]:
        used, bits = _coded(variables, settings, quantized)
        state = dict(reference)
        for name in plan.dense:
            state[name] = reference[name] + used[name]
        for name in plan.lowrank:
            step = lowrank_step(used[name + ".u"], used[name + ".v"], reference[name].shape)
            state[name] = reference[name] + step
        return _distortion(net, state, target, weights), bits / pixels

    _optimize(variables, loss_fn, settings)
    steps = {n: variables[n].detach() for n in plan.dense}
    factors = {n: v.detach() for n, v in variables.items() if n not in plan.dense}
    return steps, factors
