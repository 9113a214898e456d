"""Bjøntegaard-delta rate and PSNR between two rate-distortion curves.

BD-rate is the mean horizontal distance between the curves in log-rate over the overlapping
quality interval, reported as a percentage of the anchor's rate (negative = the test codec needs
fewer bits for the same quality). BD-PSNR is the mean vertical distance in dB over the
overlapping log-rate interval. Two interpolations:

- ``"pchip"`` (default): piecewise cubic Hermite interpolation through every point, as in the
  JVET common test conditions; follows the points exactly and cannot overshoot.
- ``"cubic"``: one least-squares cubic polynomial per curve (VCEG-M33, Bjøntegaard 2001).

Both need at least :data:`MIN_POINTS` points per curve, and a curve whose quality does not rise
strictly with rate is refused, since neither integral means anything on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nmc.errors import InputError

METHODS = ("pchip", "cubic")
MIN_POINTS = 4


def _curve(rate: Sequence[float], metric: Sequence[float], name: str) -> tuple[np.ndarray, ...]:
    """Validated ``(log10 rate, metric)`` sorted by rate."""
    rate = np.asarray(rate, dtype=np.float64).ravel()
    metric = np.asarray(metric, dtype=np.float64).ravel()
    if rate.shape != metric.shape:
        raise InputError(f"{name} curve: {rate.size} rates but {metric.size} metric values")
    if rate.size < MIN_POINTS:
        raise InputError(
            f"{name} curve has {rate.size} points; BD metrics need at least {MIN_POINTS} "
            "rate points per curve (add rate points to the campaign)"
        )
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(metric)) and np.all(rate > 0)):
        raise InputError(f"{name} curve: rates must be positive and finite, metrics finite")
    order = np.argsort(rate, kind="stable")
    rate, metric = rate[order], metric[order]
    if np.any(np.diff(rate) <= 0) or np.any(np.diff(metric) <= 0):
        pairs = ", ".join(f"({r:.6g}, {m:.6g})" for r, m in zip(rate, metric))
        raise InputError(
            f"{name} curve is not monotone (quality must rise strictly with rate): {pairs}; "
            "drop the out-of-order points or fix the rate ladder"
        )
    return np.log10(rate), metric


def _mean_over(x: np.ndarray, y: np.ndarray, low: float, high: float, method: str) -> float:
    """Mean of the interpolant of ``y(x)`` over ``[low, high]``; ``x`` strictly increasing."""
    if method == "pchip":
        # imported here: scipy.interpolate costs ~0.5 s, and the CLI imports this module for
        # METHODS when it builds its parser, before any command runs
        from scipy.interpolate import PchipInterpolator

        integral = PchipInterpolator(x, y).integrate(low, high)
    elif method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        integral = np.polyval(antiderivative, high) - np.polyval(antiderivative, low)
    else:
        raise InputError(f"unknown BD interpolation {method!r}; choose one of {', '.join(METHODS)}")
    return float(integral) / (high - low)


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    low, high = max(a[0], b[0]), min(a[-1], b[-1])
    if high <= low:
        raise InputError(
            f"the two curves do not overlap in {what}; BD metrics need a common range "
            "(extend one codec's rate ladder)"
        )
    return float(low), float(high)


def bd_rate(
    rate_anchor: Sequence[float],
    metric_anchor: Sequence[float],
    rate_test: Sequence[float],
    metric_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-rate of ``test`` against ``anchor`` in percent (negative = test saves bits).

    Args:
        rate_anchor, rate_test: rates (any positive unit, e.g. bpp), one per point.
        metric_anchor, metric_test: quality per point (e.g. PSNR in dB), rising with rate.
        method: ``"pchip"`` or ``"cubic"``.
    """
    log_a, q_a = _curve(rate_anchor, metric_anchor, "anchor")
    log_t, q_t = _curve(rate_test, metric_test, "test")
    low, high = _overlap(q_a, q_t, "quality")
    delta = _mean_over(q_t, log_t, low, high, method) - _mean_over(q_a, log_a, low, high, method)
    return (10.0**delta - 1.0) * 100.0


def bd_psnr(
    rate_anchor: Sequence[float],
    metric_anchor: Sequence[float],
    rate_test: Sequence[float],
    metric_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-PSNR (more generally BD-metric) of ``test`` against ``anchor``, in the metric's unit.

    Positive = test has higher quality at equal rate. Arguments as for :func:`bd_rate`.
    """
    log_a, q_a = _curve(rate_anchor, metric_anchor, "anchor")
    log_t, q_t = _curve(rate_test, metric_test, "test")
    low, high = _overlap(log_a, log_t, "rate")
    return _mean_over(log_t, q_t, low, high, method) - _mean_over(log_a, q_a, low, high, method)
