"""Per-step strength of the filter, calibrated on validation scans so it never hurts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepGating:
    """How much of the predicted residual to apply, as a function of the quantization step.

    At each calibrated step (one per QP) every channel has a strength in [0, 1]: the share
    of the residual that minimised the validation error, or 0 where the filter did not
    help. Strengths are interpolated linearly in log step between calibrated steps and held
    constant beyond the ends.

    Attributes:
        steps: calibrated quantization steps (colour levels), strictly increasing.
        strength: per calibrated step, the (Y, Cb, Cr) strengths.
    """

    steps: tuple[float, ...]
    strength: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        if not self.steps or len(self.steps) != len(self.strength):
            raise ValueError("steps and strength must be non-empty and of equal length")
        if any(s <= 0 for s in self.steps) or any(
            b <= a for a, b in zip(self.steps, self.steps[1:])
        ):
            raise ValueError(f"steps {self.steps} must be positive and strictly increasing")
        if any(len(row) != 3 or not all(0.0 <= v <= 1.0 for v in row) for row in self.strength):
            raise ValueError("each strength row must hold 3 values in [0, 1]")

    @classmethod
    def identity(cls) -> StepGating:
        """Gating that switches the filter off at every step."""
        return cls(steps=(1.0,), strength=((0.0, 0.0, 0.0),))

    @classmethod
    def full(cls) -> StepGating:
        """Gating that applies the whole residual at every step (before calibration)."""
        return cls(steps=(1.0,), strength=((1.0, 1.0, 1.0),))

    def __call__(self, step: np.ndarray) -> np.ndarray:
        """Strengths ``[N, 3]`` float32 for per-point steps ``[N]`` (colour levels)."""
        log_step = np.log(np.maximum(np.asarray(step, dtype=np.float64), 1e-6))
        knots = np.log(np.asarray(self.steps))
        table = np.asarray(self.strength)
        return np.stack([np.interp(log_step, knots, table[:, c]) for c in range(3)], axis=1).astype(
            np.float32
        )

    def to_dict(self) -> dict:
        """JSON-able form, the inverse of :meth:`from_dict`."""
        return {"steps": list(self.steps), "strength": [list(r) for r in self.strength]}

    @classmethod
    def from_dict(cls, data: dict) -> StepGating:
        """Build from :meth:`to_dict` output."""
        return cls(
            steps=tuple(float(s) for s in data["steps"]),
            strength=tuple(tuple(float(v) for v in row) for row in data["strength"]),
        )


def fit_strength(residual: np.ndarray, error: np.ndarray) -> tuple[float, float, float]:
    """Least-squares strength per channel, clipped to [0, 1].

    Args:
        residual: ``[N, 3]`` predicted residual (colour levels).
        error: ``[N, 3]`` true error, original minus decoded (colour levels).

    Returns:
        ``(a_Y, a_Cb, a_Cr)`` minimising ``|error - a * residual|^2`` per channel; 0 where the
        residual is zero or points the wrong way.
    """
    r = np.asarray(residual, dtype=np.float64)
    e = np.asarray(error, dtype=np.float64)
    power = (r * r).sum(axis=0)
    cross = (r * e).sum(axis=0)
    alpha = np.divide(cross, power, out=np.zeros(3), where=power > 0)
    return tuple(float(v) for v in np.clip(alpha, 0.0, 1.0))
