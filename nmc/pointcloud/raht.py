"""RAHT: the region-adaptive hierarchical (Haar) transform of G-PCC, on sparse Morton lists.

Each octree level merges children into parents in three two-point steps, along z, then y,
then x (one Morton bit each). Two occupied neighbours with weights ``w1, w2`` (their point
counts) and normalized values ``c1, c2`` (``sqrt(w) * mean attribute``) become

    L = a c1 + b c2,   H = -b c1 + a c2,   a = sqrt(w1 / (w1 + w2)),  b = sqrt(w2 / (w1 + w2))

with weight ``w1 + w2``; a lone node passes through unchanged. The transform is orthonormal,
so uniform quantization of the coefficients with step ``s`` gives a mean squared error of the
attributes near ``s**2 / 12`` wherever coefficients are not zeroed, and the inverse is exact:
``c1 = a L - b H``, ``c2 = b L + a H``. A node's low-pass value ``L`` is ``sqrt(w)`` times the
mean attribute of its points, so every level's node means are known during the descent, which
the prediction of :mod:`nmc.pointcloud.prediction` uses.

Everything is computed on sparse arrays (one row per occupied node), so memory stays linear in
the number of points; no per-point Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Step:
    """One two-point merge step over sorted codes.

    Attributes:
        first: int64 ``[M]`` index of each output node's first input.
        pair: bool ``[M]`` True where the output node merges two inputs (``first``, ``first+1``).
        a, b: float64 ``[K]`` butterfly weights of the K pairs (``K = pair.sum()``).
        w_in: int64 ``[n_in]`` input weights; ``w_out`` int64 ``[M]`` output weights.
    """

    first: np.ndarray
    pair: np.ndarray
    a: np.ndarray
    b: np.ndarray
    w_in: np.ndarray
    w_out: np.ndarray

    @property
    def pairs(self) -> int:
        return int(self.a.size)


def plan_step(codes: np.ndarray, weights: np.ndarray) -> tuple[Step, np.ndarray]:
    """The merge step over sorted unique ``codes`` (int64) with ``weights``; also the out codes."""
    key = codes >> 1
    new = np.ones(key.size, dtype=bool)
    new[1:] = key[1:] != key[:-1]
    first = np.flatnonzero(new)
    size = np.diff(np.append(first, key.size))
    pair = size == 2
    w1 = weights[first[pair]]
    w2 = weights[first[pair] + 1]
    total = w1 + w2
    w_out = weights[first].copy()
    w_out[pair] = total
    step = Step(
        first=first,
        pair=pair,
        a=np.sqrt(w1 / total),
        b=np.sqrt(w2 / total),
        w_in=weights,
        w_out=w_out,
    )
    return step, key[first]


def plan_level(child_codes: np.ndarray, child_weights: np.ndarray) -> tuple[Step, Step, Step]:
    """The z, y and x steps that merge one level's children (sorted codes) into their parents."""
    steps = []
    codes, weights = child_codes, child_weights
    for _ in range(3):
        step, codes = plan_step(codes, weights)
        steps.append(step)
        weights = step.w_out
    return steps[0], steps[1], steps[2]


def forward_step(step: Step, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(low [M, C], high [K, C])`` of normalized values ``c`` ([n_in, C])."""
    low = c[step.first]
    i1 = step.first[step.pair]
    c1, c2 = c[i1], c[i1 + 1]
    a, b = step.a[:, None], step.b[:, None]
    low[step.pair] = a * c1 + b * c2
    return low, a * c2 - b * c1


def inverse_step(step: Step, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse of :func:`forward_step`: normalized inputs ``[n_in, C]``."""
    out = np.empty((step.w_in.size,) + low.shape[1:], dtype=np.float64)
    out[step.first] = low
    i1 = step.first[step.pair]
    lp = low[step.pair]
    a, b = step.a[:, None], step.b[:, None]
    out[i1] = a * lp - b * high
    out[i1 + 1] = b * lp + a * high
    return out


def forward_level(steps: tuple[Step, Step, Step], c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(parent values [P, C], high-pass coefficients [K, C])`` of children values ``c``.

    The coefficients are listed step by step (z, then y, then x), pairs in Morton order.
    """
    highs = []
    for step in steps:
        c, high = forward_step(step, c)
        highs.append(high)
    return c, np.concatenate(highs, axis=0)


def inverse_level(
    steps: tuple[Step, Step, Step], parent: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Children values ``[n, C]`` from parent values ``[P, C]`` and :func:`forward_level`'s
    coefficients."""
    ends = np.cumsum([0] + [s.pairs for s in steps])
    c = parent
    for t in (2, 1, 0):
        c = inverse_step(steps[t], c, high[ends[t] : ends[t + 1]])
    return c


def coefficient_weights(steps: tuple[Step, Step, Step]) -> np.ndarray:
    """float64 ``[K]``: ``w1 * w2 / (w1 + w2)`` of each coefficient's pair, in coefficient order.

    A high-pass coefficient is ``sqrt`` of this times the difference of the two merged means,
    so it sets the coefficient's expected magnitude (used to pick entropy-coding contexts).
    """
    parts = []
    for step in steps:
        i1 = step.first[step.pair]
        w1 = step.w_in[i1].astype(np.float64)
        w2 = step.w_in[i1 + 1].astype(np.float64)
        parts.append(w1 * w2 / (w1 + w2))
    return np.concatenate(parts)
