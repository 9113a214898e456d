"""Fake quantization with a straight-through estimator, for quantization-aware training (QAT).

:class:`FakeQuant` is a parametrization: registered on a module's ``weight`` it makes the module
see quantized weights in the forward pass while gradients reach the float weights (Bengio et
al., 2013, straight-through estimator). The step is learnable as in LSQ (Esser et al., ICLR
2020): for signed ``b``-bit levels :math:`q = \\operatorname{clamp}(\\lfloor w/s \\rceil,
-Q, Q)`, :math:`Q = 2^{b-1} - 1`, the forward pass returns :math:`q s` and the backward pass
treats rounding as the identity, with the step's gradient scaled by :math:`1/\\sqrt{N Q}`.

Modes (``mode``):

* ``"ste"`` – training: hard rounding forward, identity backward;
* ``"noise"`` – training: :math:`w + u s`, :math:`u \\sim U(-\\tfrac12, \\tfrac12)` (quant-noise);
* in eval mode (``module.eval()``) both return exactly ``dequantize(quantize(w))``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from nmc.errors import InputError
from nmc.weights.quantize import broadcast_step, step_for_bits

MODES = ("ste", "noise")


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` in the forward pass; gradient multiplied by ``factor`` in the backward pass."""
    return x * factor + (x - x * factor).detach()


class FakeQuant(nn.Module):
    """Quantize-dequantize a weight tensor with a learnable step.

    Args:
        step: initial step, scalar or one entry per slice of ``channel_axis``
            (see :func:`~nmc.weights.quantize.step_for_bits`).
        bits: signed bit width, 2..24; levels are clamped to ``±(2**(bits-1) - 1)``.
        channel_axis: axis of a per-channel step (``None``: one step per tensor).
        mode: ``"ste"`` or ``"noise"`` (training behaviour; eval always rounds).
        learn_step: train ``log(step)`` jointly with the weights.
    """

    def __init__(
        self,
        step: torch.Tensor | float,
        bits: int = 8,
        channel_axis: int | None = None,
        mode: str = "ste",
        learn_step: bool = True,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise InputError(f"FakeQuant mode must be one of {MODES}, got {mode!r}")
        if not 2 <= bits <= 24:
            raise InputError(f"bit width must be in 2..24, got {bits}")
        log_step = torch.log(torch.as_tensor(step, dtype=torch.float32).clamp_min(1e-12))
        self.log_step = nn.Parameter(log_step.clone(), requires_grad=learn_step)
        self.bits = bits
        self.channel_axis = channel_axis
        self.mode = mode

    @classmethod
    def for_tensor(
        cls, w: torch.Tensor, bits: int = 8, channel_axis: int | None = None, **kwargs
    ) -> FakeQuant:
        """A FakeQuant whose initial step maps ``max|w|`` (per tensor or channel) to the top."""
        return cls(step_for_bits(w, bits, channel_axis), bits, channel_axis, **kwargs)

    @property
    def top(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def step(self) -> torch.Tensor:
        """Current float32 step (detached): shape ``()`` or ``[C]``."""
        return self.log_step.detach().exp()

    def levels(self, w: torch.Tensor) -> torch.Tensor:
        """int32 levels of ``w`` at the current step (what gets entropy-coded after QAT)."""
        s = broadcast_step(self.step(), w, self.channel_axis)
        return torch.round(w.detach().float() / s).clamp(-self.top, self.top).to(torch.int32)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.training:
            s = broadcast_step(self.step(), w, self.channel_axis)
            return (self.levels(w).float() * s).to(w.dtype)
        s = self.log_step.exp()
        if self.log_step.requires_grad:
            s = _scale_grad(s, 1.0 / math.sqrt(max(w.numel(), 1) * self.top))
        if s.ndim:
            shape = [1] * w.ndim
            shape[self.channel_axis] = -1
            s = s.reshape(shape)
        if self.mode == "noise":
            noisy = w + (torch.rand_like(w) - 0.5) * s
            return torch.maximum(torch.minimum(noisy, self.top * s), -self.top * s)
        return _round_ste(torch.clamp(w / s, -self.top, self.top)) * s

    def extra_repr(self) -> str:
        return f"bits={self.bits}, channel_axis={self.channel_axis}, mode={self.mode!r}"


def add_fake_quant(
    model: nn.Module,
    bits: int = 8,
    channel_axis: int | None = 0,
    mode: str = "ste",
    types: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d),
) -> nn.Module:
    """Register a :class:`FakeQuant` on the ``weight`` of every module of the given types.

    Returns ``model`` (modified in place). Call :func:`remove_fake_quant` to bake the quantized
    weights in after training.
    """
    for module in model.modules():
        if isinstance(module, types) and not parametrize.is_parametrized(module, "weight"):
            fq = FakeQuant.for_tensor(module.weight.detach(), bits, channel_axis, mode=mode)
            parametrize.register_parametrization(module, "weight", fq)
    return model


def remove_fake_quant(model: nn.Module) -> nn.Module:
    """Replace each fake-quantized weight by its quantized value (eval-mode rounding)."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            was_training = module.training
            module.eval()
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            module.train(was_training)
    return model
