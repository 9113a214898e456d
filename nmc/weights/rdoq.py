"""Rate–distortion optimized rounding for uniform scalar quantization (RDOQ).

Plain rounding minimizes the error of every weight alone. RDOQ instead picks, for each weight,
``round(x / step)`` or the level one step closer to zero, whichever minimizes

.. math:: J(k) = (x / \\Delta - k)^2 + \\lambda \\, R(k)

where :math:`R(k)` is the cost in bits of level :math:`k` under the tensor's own level histogram
(measured from a first plain-rounding pass). Levels closer to zero are cheaper, so RDOQ trades a
little error for fewer bits; the decoder is unchanged (reconstruction stays ``q * step``).
"""

from __future__ import annotations

import numpy as np
import torch

from nmc.weights.quantize import broadcast_step, quantize

_MAX_TABLE = 4096


def level_bits_table(q: np.ndarray) -> np.ndarray:
    """Bits of each magnitude under an order-0 model of ``q``, sign included.

    Args:
        q: integer array, any shape.

    Returns:
        float64 array ``t`` of length ``min(max|q| + 2, 4096)``: ``t[m]`` = bits to code a level of
        magnitude ``m`` (magnitudes past the end cost ``t[-1]``, an escape-like price). Unseen
        magnitudes get the price of a count of one half, so they stay possible but expensive.
    """
    mag = np.minimum(np.abs(q.astype(np.int64)).ravel(), _MAX_TABLE - 2)
    counts = np.bincount(mag, minlength=int(mag.max(initial=0)) + 2).astype(np.float64)
    counts = np.maximum(counts, 0.5)
    bits = -np.log2(counts / max(mag.size, 1))
    bits[1:] += 1.0
    return bits


def lookup_bits(table: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``table[|k|]`` with magnitudes past the table priced at its last entry."""
    return table[np.minimum(np.abs(k), table.size - 1)]


def rdo_quantize(
    x: torch.Tensor,
    step: torch.Tensor | float,
    lam: float,
    channel_axis: int | None = None,
    passes: int = 2,
) -> torch.Tensor:
    """Uniform quantization levels chosen by rate–distortion cost (decoder: ``q * step``).

    Args:
        x: float tensor, any shape.
        step: scalar or per-channel step (see :func:`~nmc.weights.quantize.broadcast_step`).
        lam: Lagrange multiplier in squared steps per bit; 0 gives plain rounding. Values
            around 0.05–0.3 remove most of the bits that barely reduce the error.
        channel_axis: axis of a per-channel step.
        passes: refinements of the rate model (each re-measures the level histogram).

    Returns:
        int32 tensor with the shape of ``x``.
    """
    q = quantize(x, step, channel_axis)
    if lam <= 0 or q.numel() == 0:
        return q
    scaled = (x.detach().float() / broadcast_step(step, x, channel_axis)).cpu().numpy()
    k0 = q.cpu().numpy().astype(np.int64)
    k1 = k0 - np.sign(k0)
    d0 = (scaled - k0) ** 2
    d1 = (scaled - k1) ** 2
    levels = k0
    for _ in range(passes):
        table = level_bits_table(levels)
        pick_lower = d1 + lam * lookup_bits(table, k1) < d0 + lam * lookup_bits(table, k0)
        levels = np.where(pick_lower, k1, k0)
    return torch.from_numpy(levels.astype(np.int32)).to(x.device)
