"""Pick one option per layer under a budget: beam search over the rate–error Pareto front.

Each layer offers a few coded forms (:class:`Option`: measured bits, additive error). Choosing
one per layer to minimize the total error under a bit budget (or the bits under an error
budget) is a multiple-choice knapsack. Layers are added one at a time; after each, only the
Pareto-optimal partial choices survive (no other choice is both smaller and more accurate),
and when more than ``beam`` remain, ``beam`` of them spread evenly along the front are kept
(the beam of BSR-style rank selection). With an unbounded beam the result is exact.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nmc.errors import InputError


@dataclass(frozen=True)
class Option:
    """One coded form of a layer: ``bits`` measured, ``error`` additive (e.g. squared error)."""

    bits: float
    error: float
    label: Hashable


def _pareto(states: list[tuple[float, float, tuple]]) -> list[tuple[float, float, tuple]]:
    states.sort(key=lambda s: (s[0], s[1]))
    front, best_error = [], np.inf
    for state in states:
        if state[1] < best_error:
            front.append(state)
            best_error = state[1]
    return front


def _thin(front: list, beam: int) -> list:
    if len(front) <= beam:
        return front
    keep = np.unique(np.round(np.linspace(0, len(front) - 1, beam)).astype(int))
    return [front[i] for i in keep]


def select_options(
    options: Mapping[str, Sequence[Option]],
    *,
    max_bits: float | None = None,
    max_error: float | None = None,
    beam: int = 256,
) -> dict[str, Option]:
    """Choose one option per layer.

    Args:
        options: layer name -> candidate options (at least one each).
        max_bits: total bit budget; the choice minimizes total error within it.
        max_error: total error budget; the choice minimizes total bits within it.
            Give exactly one of ``max_bits`` and ``max_error``.
        beam: most partial choices kept per layer.

    Returns:
        layer name -> chosen option. Raises InputError when no choice meets the budget.
    """
    if (max_bits is None) == (max_error is None):
        raise InputError("give exactly one budget: max_bits or max_error")
    if beam < 1 or any(not opts for opts in options.values()):
        raise InputError("beam must be >= 1 and every layer needs at least one option")
    names = list(options)
    floor_bits = np.cumsum([min(o.bits for o in options[n]) for n in names][::-1])[::-1]
    floor_error = np.cumsum([min(o.error for o in options[n]) for n in names][::-1])[::-1]
    states: list[tuple[float, float, tuple]] = [(0.0, 0.0, ())]
    for i, name in enumerate(names):
        rest_bits = floor_bits[i + 1] if i + 1 < len(names) else 0.0
        rest_error = floor_error[i + 1] if i + 1 < len(names) else 0.0
        grown = [
            (bits + o.bits, error + o.error, picks + (j,))
            for bits, error, picks in states
            for j, o in enumerate(options[name])
            if (max_bits is None or bits + o.bits + rest_bits <= max_bits)
            and (max_error is None or error + o.error + rest_error <= max_error)
        ]
        if not grown:
            raise InputError(
                f"no choice meets the budget (cheapest total: {floor_bits[0]:.0f} bits, "
                f"smallest total error: {floor_error[0]:.4g})"
            )
        states = _thin(_pareto(grown), beam)
    if max_bits is not None:
        best = min(states, key=lambda s: (s[1], s[0]))
    else:
        best = min(states, key=lambda s: (s[0], s[1]))
    return {name: options[name][j] for name, j in zip(names, best[2])}
