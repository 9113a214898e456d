"""Budgeted per-layer choices: the selector is exact, the plan meets its budget on real bytes."""

from __future__ import annotations

import itertools

import pytest
import torch

from nmc.errors import InputError
from nmc.weights import CodingConfig, cheapest_config, step_for_error, step_for_mse
from nmc.weights.calibrate import reconstruct, weight_mse
from nmc.weights.select import Option, select_options
from nmc.weights.tradeoff import TradeoffGrid, decode_plan, encode_plan, plan_layers, select_ranks


def test_selector_matches_exhaustive_search():
    g = torch.Generator().manual_seed(0)
    options = {
        f"l{i}": [
            Option(float(b), float(e), j)
            for j, (b, e) in enumerate(
                zip(torch.randint(1, 100, (4,), generator=g), torch.rand(4, generator=g))
            )
        ]
        for i in range(5)
    }
    for budget in (150, 220, 300):
        picked = select_options(options, max_bits=budget)
        best = min(
            (
                combo
                for combo in itertools.product(*options.values())
                if sum(o.bits for o in combo) <= budget
            ),
            key=lambda combo: sum(o.error for o in combo),
        )
        assert sum(o.error for o in picked.values()) == pytest.approx(sum(o.error for o in best))
    with pytest.raises(InputError):
        select_options(options, max_bits=1)
    with pytest.raises(InputError):
        select_options(options)


def _low_rank_layers() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    smooth = torch.randn(48, 3, generator=g) @ torch.randn(3, 40, generator=g) * 0.05
    return {
        "smooth.weight": smooth + 0.001 * torch.randn(48, 40, generator=g),
        "noisy.weight": 0.05 * torch.randn(40, 48, generator=g),
        "noisy.bias": 0.01 * torch.randn(40, generator=g),
        "count": torch.tensor(3),
    }


def test_plan_meets_target_size_and_error_on_measured_bytes():
    weights = _low_rank_layers()
    grid = TradeoffGrid(
        steps=(0.002, 0.005, 0.01), sparsities=(0.0, 0.5), rank_fractions=(0.1, 0.25)
    )
    total = sum(w.numel() for w in weights.values())
    for target_bits in (7000, 14000):
        plan = plan_layers(weights, grid, target_bits=target_bits)
        payload, recon = encode_plan(weights, plan)
        assert 8 * len(payload) <= target_bits
        decoded = decode_plan(payload)
        assert all(torch.equal(decoded[n], recon[n]) for n in weights)
    plan = plan_layers(weights, grid, target_mse=2e-6)
    payload, recon = encode_plan(weights, plan)
    mse = (
        sum(float((recon[n].double() - w.double()).pow(2).sum()) for n, w in weights.items())
        / total
    )
    assert mse <= 2e-6
    assert plan["smooth.weight"].rank is not None  # a rank-3 matrix is cheaper as factors
    assert plan["noisy.weight"].rank is None


def test_select_ranks_spends_more_rank_on_a_larger_budget():
    weights = {k: v for k, v in _low_rank_layers().items() if k.endswith("weight")}
    tight = select_ranks(weights, 0.004, target_mse=4e-4)
    loose = select_ranks(weights, 0.004, target_mse=2e-5)
    rank = lambda r, n: weights[n].shape[0] if r is None else r  # noqa: E731
    assert all(rank(loose[n], n) >= rank(tight[n], n) for n in weights)


def test_step_for_mse_hits_the_target_for_every_quantizer():
    g = torch.Generator().manual_seed(3)
    weights = {
        "a": torch.distributions.Laplace(0.0, 0.05).sample((96, 64)),
        "b": 0.01 * torch.randn(64, generator=g),
    }
    for config in (CodingConfig(), CodingConfig("uniform", 0.12), CodingConfig("trellis", 0.3)):
        for target in (1e-6, 1e-4):
            step = step_for_mse(weights, target, config)
            assert weight_mse(weights, step, config) == pytest.approx(target, rel=0.02)
    best, step, bits = cheapest_config(
        weights, 1e-5, [CodingConfig(), CodingConfig("trellis", 0.3)], every=1
    )
    assert len(bits) == 2 and min(bits.values()) == pytest.approx(
        bits[f"{best.quantizer}(lambda={best.rdo_lambda:g})"]
    )


def test_step_for_error_reaches_an_output_error_and_picks_by_it():
    """Calibrated on a model's output error instead of the weight MSE: every quantizer hits the
    target, and the choice is the one with the fewest bits at that error."""
    g = torch.Generator().manual_seed(5)
    weights = {"w": torch.distributions.Laplace(0.0, 0.05).sample((64, 48))}
    x = torch.randn(48, 256, generator=g)
    reference = weights["w"] @ x

    def output_error(recon):
        return float((recon["w"] @ x - reference).pow(2).sum() / reference.pow(2).sum())

    plain, rdoq = CodingConfig(), CodingConfig("uniform", 0.3)
    for config in (plain, rdoq, CodingConfig("trellis", 0.3)):
        step = step_for_error(weights, 0.01, config, output_error)
        assert output_error(reconstruct(weights, step, config)) == pytest.approx(0.01, rel=0.02)
    best, step, by_output = cheapest_config(weights, 0.01, [plain, rdoq], error_fn=output_error)
    assert len(by_output) == 2 and best in (plain, rdoq)
    assert by_output[f"{best.quantizer}(lambda={best.rdo_lambda:g})"] == min(by_output.values())
    assert output_error(reconstruct(weights, step, best)) == pytest.approx(0.01, rel=0.02)
