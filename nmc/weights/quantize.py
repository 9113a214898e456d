"""Uniform scalar quantization of weight tensors: step or bit width, per tensor or per channel.

A weight ``x`` maps to the integer ``q = round(x / step)`` and back to ``q * step``. The step is
a scalar (per tensor) or a vector with one entry per slice along ``channel_axis`` (per output
channel). Dequantization is one function, :func:`dequantize`, used by encoder and decoder alike,
so both rebuild bit-identical float32 tensors.

Rounding is round-half-to-even (``torch.round``); quantizing a dequantized tensor again with the
same step returns the same integers (exact integer round trip) while ``|q| < 2**22``.
"""

from __future__ import annotations

import torch

from nmc.errors import InputError

MAX_ABS_LEVEL = 1 << 22
"""Largest ``|q|`` for which float32 ``q * step`` re-quantizes to ``q`` exactly."""


def broadcast_step(
    step: torch.Tensor | float, x: torch.Tensor, channel_axis: int | None
) -> torch.Tensor:
    """Return ``step`` as a float32 tensor that broadcasts against ``x``.

    Args:
        step: scalar, 0-d tensor, or 1-D tensor of length ``x.shape[channel_axis]``.
        x: the tensor being (de)quantized, any shape.
        channel_axis: axis that a 1-D ``step`` runs along; ignored for scalar steps.

    Returns:
        float32 tensor of shape ``()`` or ``[1, .., C, .., 1]`` (``C`` at ``channel_axis``).
    """
    s = torch.as_tensor(step, dtype=torch.float32, device=x.device)
    if s.ndim == 0 or s.numel() == 1 and channel_axis is None:
        s = s.reshape(())
        if not torch.isfinite(s) or s <= 0:
            raise InputError(f"quantization step must be a finite positive number, got {float(s)}")
        return s
    if channel_axis is None or s.ndim != 1:
        raise InputError(
            f"a step with shape {tuple(s.shape)} needs a channel_axis and must be 1-D "
            "(one step per channel); pass a scalar step for per-tensor quantization"
        )
    axis = channel_axis % max(x.ndim, 1)
    if x.ndim == 0 or s.numel() != x.shape[axis]:
        raise InputError(
            f"per-channel step has {s.numel()} entries but the tensor of shape "
            f"{tuple(x.shape)} has {x.shape[axis] if x.ndim else 0} channels on axis {channel_axis}"
        )
    if not bool(torch.isfinite(s).all()) or bool((s <= 0).any()):
        raise InputError("every per-channel quantization step must be finite and positive")
    shape = [1] * x.ndim
    shape[axis] = s.numel()
    return s.reshape(shape)


def step_for_bits(
    x: torch.Tensor, bits: int, channel_axis: int | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """Symmetric step that maps ``max|x|`` to the largest level of a signed ``bits``-bit integer.

    Args:
        x: float tensor, any shape.
        bits: bit width, 2..24 (levels ``-(2**(bits-1)-1) .. 2**(bits-1)-1``).
        channel_axis: ``None`` for one step per tensor, else one step per slice on this axis.
        eps: floor on the step, so all-zero tensors or channels get a valid step.

    Returns:
        float32 step: shape ``()`` or ``[x.shape[channel_axis]]``.
    """
    if not 2 <= bits <= 24:
        raise InputError(f"bit width must be in 2..24, got {bits}")
    top = float((1 << (bits - 1)) - 1)
    xf = x.detach().float().abs()
    if channel_axis is None:
        peak = xf.max() if xf.numel() else torch.zeros(())
    else:
        peak = xf.movedim(channel_axis, 0).reshape(xf.shape[channel_axis], -1).amax(dim=1)
    return (peak / top).clamp_min(eps)


def quantize(
    x: torch.Tensor,
    step: torch.Tensor | float,
    channel_axis: int | None = None,
    bits: int | None = None,
) -> torch.Tensor:
    """Integer levels ``round(x / step)``, optionally clamped to a signed ``bits``-bit range.

    Args:
        x: float tensor, any shape.
        step: see :func:`broadcast_step`.
        channel_axis: axis of a per-channel step.
        bits: if given, clamp to ``[-(2**(bits-1)-1), 2**(bits-1)-1]`` (symmetric range).

    Returns:
        int32 tensor with the shape of ``x``.
    """
    if not x.is_floating_point():
        raise InputError(f"quantize takes a floating-point tensor, got {x.dtype}")
    s = broadcast_step(step, x, channel_axis)
    q = torch.round(x.detach().float() / s)
    if not bool(torch.isfinite(q).all()):
        raise InputError("tensor holds NaN or infinite values; they cannot be quantized")
    top = MAX_ABS_LEVEL if bits is None else (1 << (bits - 1)) - 1
    if bits is None and q.numel() and float(q.abs().max()) > top:
        raise InputError(
            f"step too small: levels reach {int(q.abs().max())} (limit {top}); use a larger step"
        )
    return q.clamp(-top, top).to(torch.int32)


def dequantize(
    q: torch.Tensor, step: torch.Tensor | float, channel_axis: int | None = None
) -> torch.Tensor:
    """float32 reconstruction ``q * step`` (the single definition encoder and decoder share).

    Args:
        q: integer tensor, any shape.
        step: see :func:`broadcast_step`.
        channel_axis: axis of a per-channel step.

    Returns:
        float32 tensor with the shape of ``q``.
    """
    return q.to(torch.float32) * broadcast_step(step, q, channel_axis)
