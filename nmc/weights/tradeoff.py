"""Rate–error trade-off: per layer, pick step, sparsity and rank for one target size or error.

Every candidate coded form of every layer is actually coded (bits are measured with
:func:`~nmc.weights.encode_state_dict`, not estimated) and its squared error computed; then
:func:`~nmc.weights.select.select_options` picks one form per layer under the single budget.

A layer's coded form (:class:`LayerChoice`) is either *dense* (magnitude-pruned to ``sparsity``,
then quantized with ``step``) or *low rank* (truncated-SVD factors of rank ``rank``, both
quantized with ``step``). Factors travel as two tensors named ``<name>#A`` and ``<name>#B``;
:func:`decode_plan` multiplies them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from nmc.errors import BitstreamError, InputError
from nmc.weights.lowrank import compose, factorize, max_rank
from nmc.weights.records import CodingConfig
from nmc.weights.select import Option, select_options
from nmc.weights.sparsity import magnitude_mask, sparsify
from nmc.weights.state_dict import decode_state_dict, encode_state_dict

FACTOR_SUFFIXES = ("#A", "#B")
_HEADER_BITS = 8 * 3  # tag, version, one-byte tensor count of a single-layer payload


@dataclass(frozen=True)
class LayerChoice:
    """How one layer is coded: ``rank`` None = dense (pruned to ``sparsity``), else factors."""

    step: float
    sparsity: float = 0.0
    rank: int | None = None


@dataclass(frozen=True)
class TradeoffGrid:
    """Candidates tried for every float layer.

    Attributes:
        steps: quantization steps.
        sparsities: magnitude-pruning shares for the dense form (element granularity).
        rank_fractions: ranks for the low-rank form, as fractions of the layer's full rank
            (empty: dense only). Only tensors with 2 or more dims are factorized.
    """

    steps: tuple[float, ...]
    sparsities: tuple[float, ...] = (0.0,)
    rank_fractions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.steps or any(not s > 0 for s in self.steps):
            raise InputError("TradeoffGrid needs at least one positive step")
        if not self.sparsities or any(not 0 <= s < 1 for s in self.sparsities):
            raise InputError("sparsities must be in [0, 1) (at least one)")
        if any(not 0 < f <= 1 for f in self.rank_fractions):
            raise InputError("rank_fractions must be in (0, 1]")


def _coded_form(name: str, w: torch.Tensor, choice: LayerChoice) -> dict[str, torch.Tensor]:
    if choice.rank is not None:
        a, b = factorize(w, choice.rank)
        return {name + FACTOR_SUFFIXES[0]: a, name + FACTOR_SUFFIXES[1]: b}
    if choice.sparsity > 0:
        return {name: sparsify(w, magnitude_mask(w, choice.sparsity))}
    return {name: w}


def _candidates(w: torch.Tensor, grid: TradeoffGrid) -> list[LayerChoice]:
    if not w.is_floating_point():
        return [LayerChoice(step=1.0)]
    top = max_rank(tuple(w.shape))
    ranks = sorted({max(1, round(f * top)) for f in grid.rank_fractions}) if top else []
    # a factorization only pays when the factors are smaller than the matrix itself
    ranks = [r for r in ranks if r * (w.shape[0] + w[0].numel()) < w.numel()]
    out = []
    for step in grid.steps:
        out += [LayerChoice(step, sparsity) for sparsity in grid.sparsities]
        out += [LayerChoice(step, 0.0, rank) for rank in ranks]
    return out


def _measure(name: str, w: torch.Tensor, choice: LayerChoice, config: CodingConfig) -> Option:
    form = _coded_form(name, w, choice)
    payload, recon = encode_state_dict(form, choice.step, config=config)
    rebuilt = _merge_factors(recon)[name]
    error = float((rebuilt.double() - w.double()).pow(2).sum())
    return Option(bits=8 * len(payload) - _HEADER_BITS, error=error, label=choice)


def plan_layers(
    weights: Mapping[str, torch.Tensor],
    grid: TradeoffGrid,
    *,
    target_bits: float | None = None,
    target_mse: float | None = None,
    beam: int = 256,
    config: CodingConfig | None = None,
) -> dict[str, LayerChoice]:
    """Per-layer step / sparsity / rank meeting one budget.

    Args:
        weights: name -> tensor (integer tensors are kept lossless).
        grid: candidate steps, sparsities and ranks.
        target_bits: total payload size to stay within (bits); minimizes the error.
        target_mse: mean squared weight error over all elements to stay within; minimizes
            the size. Give exactly one.
        beam: partial choices kept per layer (see :mod:`nmc.weights.select`).
        config: quantizer used for every candidate.

    Returns:
        name -> :class:`LayerChoice`; code it with :func:`encode_plan`.
    """
    config = config or CodingConfig()
    total = sum(w.numel() for w in weights.values())
    options = {
        name: [_measure(name, w, c, config) for c in _candidates(w, grid)]
        for name, w in weights.items()
    }
    chosen = select_options(
        options,
        max_bits=None if target_bits is None else target_bits - _HEADER_BITS,
        max_error=None if target_mse is None else target_mse * total,
        beam=beam,
    )
    return {name: option.label for name, option in chosen.items()}


def select_ranks(
    weights: Mapping[str, torch.Tensor],
    step: float,
    *,
    target_bits: float | None = None,
    target_mse: float | None = None,
    rank_fractions: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2),
    beam: int = 256,
) -> dict[str, int | None]:
    """Per-layer ranks (None = keep dense) from one budget, at a fixed quantization step."""
    grid = TradeoffGrid(steps=(step,), rank_fractions=rank_fractions)
    plan = plan_layers(weights, grid, target_bits=target_bits, target_mse=target_mse, beam=beam)
    return {name: choice.rank for name, choice in plan.items()}


def encode_plan(
    weights: Mapping[str, torch.Tensor],
    plan: Mapping[str, LayerChoice],
    *,
    config: CodingConfig | None = None,
) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Code ``weights`` as planned; returns (payload, reconstruction as :func:`decode_plan`)."""
    missing = set(weights) - set(plan)
    if missing:
        raise InputError(f"the plan has no choice for {sorted(missing)[:3]}")
    forms, steps = {}, {}
    for name, w in weights.items():
        form = _coded_form(name, w, plan[name])
        forms.update(form)
        steps.update(dict.fromkeys(form, plan[name].step))
    payload, recon = encode_state_dict(forms, steps, config=config)
    return payload, _merge_factors(recon)


def decode_plan(payload: bytes) -> dict[str, torch.Tensor]:
    """Decode an :func:`encode_plan` payload, multiplying low-rank factors back into weights."""
    tensors = decode_state_dict(payload)
    try:
        return _merge_factors(tensors)
    except InputError as exc:
        raise BitstreamError(f"weights payload: {exc}") from exc


def _merge_factors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    a_suffix, b_suffix = FACTOR_SUFFIXES
    out: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        if name.endswith(b_suffix):
            continue
        if name.endswith(a_suffix):
            base = name[: -len(a_suffix)]
            partner = tensors.get(base + b_suffix)
            if partner is None:
                raise InputError(f"low-rank factor {name!r} has no partner {base + b_suffix!r}")
            out[base] = compose(value, partner)
        else:
            out[name] = value
    return out
