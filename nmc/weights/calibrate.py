"""Find the quantization step that gives a target weight error, and pick the cheapest quantizer.

The error of a quantizer grows smoothly with its step (about as ``step**2`` at fine steps), so a
secant search on ``log(step)`` against ``log(mse)`` converges in a few quantization passes. The
passes run on a row subsample of every matrix (every ``k``-th slice of axis 0), which has the
same statistics at a fraction of the cost; the caller then codes the full tensors once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from nmc.errors import InputError
from nmc.weights.records import CodingConfig, make_record, rebuild
from nmc.weights.state_dict import encode_state_dict


def sample_rows(weights: Mapping[str, torch.Tensor], every: int = 8) -> dict[str, torch.Tensor]:
    """Every ``every``-th slice along axis 0 of each float tensor with 2+ dims; vectors whole."""
    if every < 1:
        raise InputError(f"every must be >= 1, got {every}")
    return {
        name: (w[::every] if w.ndim >= 2 else w)
        for name, w in weights.items()
        if w.is_floating_point()
    }


def weight_mse(weights: Mapping[str, torch.Tensor], step: float, config: CodingConfig) -> float:
    """Mean squared error over all elements after quantizing every tensor with ``step``."""
    total, count = 0.0, 0
    for w in weights.values():
        record = make_record(w, torch.tensor(step, dtype=torch.float32), config)
        total += float((rebuild(record, None, torch.float32).double() - w.double()).pow(2).sum())
        count += w.numel()
    return total / max(count, 1)


def step_for_mse(
    weights: Mapping[str, torch.Tensor],
    target_mse: float,
    config: CodingConfig,
    *,
    rel_tol: float = 0.005,
    max_iter: int = 8,
) -> float:
    """Step at which ``weights`` quantized with ``config`` reach ``target_mse`` (± ``rel_tol``).

    Starts from the high-rate guess ``sqrt(12 * target_mse)`` (uniform) or a third of the
    squared error of that for the trellis quantizer, then follows the secant in log–log space.
    Returns the best step found after ``max_iter`` passes.
    """
    if not target_mse > 0:
        raise InputError(f"target_mse must be > 0, got {target_mse}")
    guess = math.sqrt(12 * target_mse / (3.0 if config.quantizer == "trellis" else 1.0))
    points: list[tuple[float, float]] = []
    step = guess
    for _ in range(max_iter):
        mse = weight_mse(weights, step, config)
        points.append((math.log(step), math.log(max(mse, 1e-300))))
        if abs(mse / target_mse - 1) <= rel_tol:
            break
        if len(points) == 1:
            step *= math.sqrt(target_mse / max(mse, 1e-300))
            continue
        (s1, m1), (s2, m2) = points[-2], points[-1]
        slope = (m2 - m1) / (s2 - s1) if s2 != s1 else 2.0
        slope = min(max(slope, 0.5), 4.0)  # guard against flat or noisy segments
        step = math.exp(s2 + (math.log(target_mse) - m2) / slope)
    best = min(points, key=lambda p: abs(p[1] - math.log(target_mse)))
    return math.exp(best[0])


def cheapest_config(
    weights: Mapping[str, torch.Tensor],
    target_mse: float,
    configs: Sequence[CodingConfig],
    every: int = 8,
) -> tuple[CodingConfig, float, dict[str, float]]:
    """The quantizer whose coded row sample is smallest at ``target_mse``.

    Returns ``(config, step, bits_per_param_by_config)``; bits are measured by coding the row
    sample (:func:`sample_rows`) at each config's calibrated step.
    """
    sample = sample_rows(weights, every)
    count = sum(w.numel() for w in sample.values())
    results = {}
    for config in configs:
        step = step_for_mse(sample, target_mse, config)
        payload, _ = encode_state_dict(sample, step, config=config)
        results[config] = (8 * len(payload) / max(count, 1), step)
    best = min(results, key=lambda c: results[c][0])
    bits = {f"{c.quantizer}(lambda={c.rdo_lambda:g})": results[c][0] for c in results}
    return best, results[best][1], bits
