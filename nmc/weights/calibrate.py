"""Find the quantization step that gives a target error, and pick the cheapest quantizer.

The error of a quantizer grows smoothly with its step (about as ``step**2`` at fine steps), so a
secant search on ``log(step)`` against ``log(error)`` converges in a few quantization passes.
The error is the weights' own MSE by default, or any function of the reconstruction (e.g. the
model's output error on fixed inputs, :data:`ErrorFn`). For the weight MSE the passes run on a
row subsample of every matrix (every ``k``-th slice of axis 0), which has the same statistics at
a fraction of the cost; the caller then codes the full tensors once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from nmc.errors import InputError
from nmc.weights.records import CodingConfig, make_record, rebuild
from nmc.weights.state_dict import encode_state_dict

ErrorFn = Callable[[Mapping[str, torch.Tensor]], float]
"""Error of a reconstruction (name -> dequantized float32 tensor, the names of the weights)."""


def sample_rows(weights: Mapping[str, torch.Tensor], every: int = 8) -> dict[str, torch.Tensor]:
    """Every ``every``-th slice along axis 0 of each float tensor with 2+ dims; vectors whole."""
    if every < 1:
        raise InputError(f"every must be >= 1, got {every}")
    return {
        name: (w[::every] if w.ndim >= 2 else w)
        for name, w in weights.items()
        if w.is_floating_point()
    }


def reconstruct(
    weights: Mapping[str, torch.Tensor], step: float, config: CodingConfig
) -> dict[str, torch.Tensor]:
    """The float32 tensors a decoder rebuilds after coding ``weights`` with ``step``."""
    step_tensor = torch.tensor(step, dtype=torch.float32)
    return {
        name: rebuild(make_record(w, step_tensor, config), None, torch.float32)
        for name, w in weights.items()
    }


def weight_mse(weights: Mapping[str, torch.Tensor], step: float, config: CodingConfig) -> float:
    """Mean squared error over all elements after quantizing every tensor with ``step``."""
    recon = reconstruct(weights, step, config)
    total = sum(float((recon[n].double() - w.double()).pow(2).sum()) for n, w in weights.items())
    return total / max(sum(w.numel() for w in weights.values()), 1)


def step_for_error(
    weights: Mapping[str, torch.Tensor],
    target: float,
    config: CodingConfig,
    error_fn: ErrorFn | None = None,
    *,
    rel_tol: float = 0.005,
    max_iter: int = 8,
) -> float:
    """Step at which ``weights`` coded with ``config`` reach the error ``target`` (± ``rel_tol``).

    Args:
        weights: name -> float tensor.
        target: the error to reach (> 0), in the units of ``error_fn``.
        config: the quantizer.
        error_fn: error of a reconstruction; None = the weights' MSE.

    Starts from the high-rate guess ``sqrt(12 * target)`` for the weight MSE (a third of that
    squared error for the trellis quantizer) or a quarter of the weights' RMS for another
    error, then follows the secant in log–log space. Returns the best step found after
    ``max_iter`` passes.
    """
    if not target > 0:
        raise InputError(f"target error must be > 0, got {target}")
    if error_fn is None:
        guess = math.sqrt(12 * target / (3.0 if config.quantizer == "trellis" else 1.0))

        def error_at(step: float) -> float:
            return weight_mse(weights, step, config)
    else:
        count = max(sum(w.numel() for w in weights.values()), 1)
        guess = 0.25 * math.sqrt(
            sum(float(w.double().pow(2).sum()) for w in weights.values()) / count
        )

        def error_at(step: float) -> float:
            return error_fn(reconstruct(weights, step, config))

    points: list[tuple[float, float]] = []
    step = max(guess, 1e-30)
    for _ in range(max_iter):
        error = error_at(step)
        points.append((math.log(step), math.log(max(error, 1e-300))))
        if abs(error / target - 1) <= rel_tol:
            break
        if len(points) == 1:
            step *= math.sqrt(target / max(error, 1e-300))
            continue
        (s1, m1), (s2, m2) = points[-2], points[-1]
        slope = (m2 - m1) / (s2 - s1) if s2 != s1 else 2.0
        slope = min(max(slope, 0.5), 4.0)  # guard against flat or noisy segments
        step = math.exp(s2 + (math.log(target) - m2) / slope)
    best = min(points, key=lambda p: abs(p[1] - math.log(target)))
    return math.exp(best[0])


def step_for_mse(
    weights: Mapping[str, torch.Tensor],
    target_mse: float,
    config: CodingConfig,
    *,
    rel_tol: float = 0.005,
    max_iter: int = 8,
) -> float:
    """Step at which ``weights`` quantized with ``config`` reach ``target_mse``
    (:func:`step_for_error` with the weight MSE)."""
    return step_for_error(weights, target_mse, config, rel_tol=rel_tol, max_iter=max_iter)


def cheapest_config(
    weights: Mapping[str, torch.Tensor],
    target: float,
    configs: Sequence[CodingConfig],
    every: int = 8,
    error_fn: ErrorFn | None = None,
) -> tuple[CodingConfig, float, dict[str, float]]:
    """The quantizer whose coded weights are smallest at the error ``target``.

    Args:
        weights: name -> float tensor.
        target: weight MSE, or the error ``error_fn`` measures.
        configs: the candidate quantizers.
        every: row subsampling for the weight MSE (:func:`sample_rows`); with ``error_fn``
            the full tensors are used (the error depends on all of them).
        error_fn: error of a reconstruction (e.g. a model's output error); None = weight MSE.

    Returns ``(config, step, bits_per_param_by_config)``; bits are measured by coding the
    (sampled) weights at each config's calibrated step.
    """
    if error_fn is None:
        sample = sample_rows(weights, every)
    else:
        sample = {n: w for n, w in weights.items() if w.is_floating_point()}
    count = sum(w.numel() for w in sample.values())
    results = {}
    for config in configs:
        step = step_for_error(sample, target, config, error_fn)
        payload, _ = encode_state_dict(sample, step, config=config)
        results[config] = (8 * len(payload) / max(count, 1), step)
    best = min(results, key=lambda c: results[c][0])
    bits = {f"{c.quantizer}(lambda={c.rdo_lambda:g})": results[c][0] for c in results}
    return best, results[best][1], bits
