"""Compressible subspaces: schedule, straight-through line, exact export, the frame task."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn

from nmc.errors import InputError
from nmc.weights import (
    CompressionSchedule,
    add_subspace,
    coding_steps,
    decode_state_dict,
    dequantize,
    encode_state_dict,
    export_subspace,
    magnitude_mask,
    quantize,
    sample_alpha,
    set_alpha,
    sparsify,
    step_for_bits,
    train_subspace,
)
from tests.weights.frame_task import features, fit, frame_crop, linear_decay, loss, mlp, mse


def _net() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 10), nn.ReLU(),
        nn.Linear(10, 2),
    )  # fmt: skip


def test_schedule_levels():
    sparse = CompressionSchedule("sparsity", 0.0, 0.9)
    assert [sparse.level(a) for a in (0.0, 0.5, 1.0)] == pytest.approx([0.0, 0.45, 0.9])
    bits = CompressionSchedule("bits", 8, 2)
    assert [bits.level(a) for a in (0.0, 0.5, 0.999, 1.0)] == [8, 5, 2, 2]
    grid = [(i + 0.5) / 7000 for i in range(7000)]  # uniform alpha: every width equally often
    counts = [sum(bits.level(a) == b for a in grid) for b in range(2, 9)]
    assert counts == [1000] * 7
    assert CompressionSchedule("bits", 3, 6).level(1.0) == 6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "pruning"}, "kind"),
        ({"start": -0.1}, r"\[0, 1\]"),
        ({"stop": 1.5}, r"\[0, 1\]"),
        ({"kind": "bits", "start": 8, "stop": 1}, "2..24"),
        ({"kind": "bits", "start": 8.5, "stop": 2}, "integers"),
        ({"granularity": "block"}, "granularity"),
    ],
)
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        CompressionSchedule(**kwargs)


def test_line_forward_is_compressed_and_gradient_straight_through():
    torch.set_num_threads(1)
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    for schedule in (CompressionSchedule("sparsity", 0.0, 0.8), CompressionSchedule("bits", 8, 2)):
        model = add_subspace(_net(), schedule)
        set_alpha(model, 0.75)
        with torch.no_grad():  # the two endpoints differ
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        model(x).square().sum().backward()
        for layer in (model[0], model[3], model[5]):
            ends, w = layer.parametrizations.weight, layer.weight.detach()
            point = torch.lerp(ends.original0, ends.original1, 0.75).detach()
            if schedule.kind == "sparsity":
                assert int((w == 0).sum()) == int(0.6 * w.numel())
                assert torch.equal(w, sparsify(point, magnitude_mask(point, 0.6)))
            else:
                step = step_for_bits(point, 3, channel_axis=0)
                assert torch.equal(w, dequantize(quantize(point, step, 0, 3), step, 0))
            g0, g1 = ends.original0.grad, ends.original1.grad
            assert torch.allclose(g0, g1 / 3, rtol=1e-5, atol=1e-7)  # (1 - a) g and a g
            assert bool((g1[w == 0] != 0).any())  # pruned or zero-level weights still learn


@pytest.mark.parametrize("schedule", [CompressionSchedule(), CompressionSchedule("bits", 6, 2)])
def test_export_is_the_forward_pass_and_codes_exactly(schedule):
    torch.set_num_threads(1)
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    model = add_subspace(_net(), schedule)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    set_alpha(model, 0.2)
    state = export_subspace(model, 0.9)
    assert [layer.parametrizations.weight[0].alpha for layer in model[::5]] == [0.2, 0.2]
    plain = _net()
    plain.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(plain(x), set_alpha(model, 0.9)(x))

    steps = coding_steps(model, 0.9, 1e-4)
    assert set(steps) == set(state)
    payload, recon = encode_state_dict(state, steps)
    assert all(torch.equal(recon[k], v) for k, v in decode_state_dict(payload).items())
    for name, value in state.items():
        if name.endswith("weight") and schedule.kind == "bits":  # on their own grid: exact
            assert steps[name].ndim == 1
            assert torch.equal(recon[name], value)
        else:
            assert steps[name].ndim == 0
            assert torch.equal(recon[name] == 0, value == 0)  # pruned weights stay pruned
            assert float((recon[name] - value).abs().max()) <= 5e-5


def test_sample_alpha_and_refusals():
    generator = torch.Generator().manual_seed(3)
    draws = [sample_alpha(generator, 0.5) for _ in range(4000)]
    ends = sum(a in (0.0, 1.0) for a in draws) / len(draws)
    assert 0.45 < ends < 0.55
    assert 0.45 < sum(a == 1.0 for a in draws) / sum(a in (0.0, 1.0) for a in draws) < 0.55
    assert all(0.0 < a < 1.0 for a in (sample_alpha(generator, 0.0) for _ in range(200)))
    with pytest.raises(InputError, match="endpoint_share"):
        sample_alpha(generator, 1.5)
    with pytest.raises(InputError, match="add_subspace"):
        set_alpha(_net(), 0.5)
    with pytest.raises(InputError, match="no unparametrized layer"):
        add_subspace(nn.Sequential(nn.ReLU()), CompressionSchedule())
    with pytest.raises(InputError, match="alpha"):
        set_alpha(add_subspace(_net(), CompressionSchedule()), 1.5)


STEPS, LR, ENDPOINT_SHARE = 300, 1e-2, 0.25
SPARSITY = CompressionSchedule("sparsity", 0.0, 0.9)
BITS = CompressionSchedule("bits", 8, 2)
POINTS = {  # (schedule, alpha, level): alphas at sparsity 0 / 0.5 / 0.8 / 0.9, bit-bin centres
    "sparsity 0": (SPARSITY, 0.0, 0.0),
    "sparsity 0.5": (SPARSITY, 0.5 / 0.9, 0.5),
    "sparsity 0.8": (SPARSITY, 0.8 / 0.9, 0.8),
    "sparsity 0.9": (SPARSITY, 1.0, 0.9),
    "8 bits": (BITS, 0.0, 8),
    "4 bits": (BITS, 4.5 / 7, 4),
    "3 bits": (BITS, 5.5 / 7, 3),
    "2 bits": (BITS, 1.0, 2),
}


def _post_hoc(model: nn.Module, compress: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with every Linear weight replaced by ``compress(weight)``."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for layer in out:
            if isinstance(layer, nn.Linear):
                layer.weight.copy_(compress(layer.weight))
    return out


def _compare(carphone, seed: int) -> dict[str, tuple[float, float, float]]:
    """point -> (subspace loss, post-hoc compressed standard loss, standard loss)."""
    target, x = frame_crop(carphone), features()
    standard = mlp(seed)
    fit(standard, x, target, STEPS, LR, decay=True)  # same steps and schedule as the line
    lines = {}
    for schedule in (SPARSITY, BITS):
        line = add_subspace(mlp(seed), schedule).train()
        opt = torch.optim.Adam(line.parameters(), lr=LR)
        generator = torch.Generator().manual_seed(seed)
        train_subspace(
            line, lambda m: mse(m, x, target), opt, STEPS, ENDPOINT_SHARE, generator,
            linear_decay(opt, STEPS),
        )  # fmt: skip
        lines[schedule] = line
    results = {}
    for name, (schedule, alpha, level) in POINTS.items():
        assert schedule.level(alpha) == pytest.approx(level)
        # the standard network compressed after training by the very same compressor
        post_hoc = _post_hoc(standard, lambda w, s=schedule, a=alpha: s.compress(w, a)[0])
        results[name] = (
            loss(set_alpha(lines[schedule], alpha), x, target),
            loss(post_hoc, x, target),
            loss(standard, x, target),
        )
    return results


def test_subspace_beats_post_hoc_compression(carphone):
    torch.set_num_threads(1)
    for seed in (1, 2):
        results = _compare(carphone, seed)
        for name in ("sparsity 0.8", "sparsity 0.9", "2 bits"):
            subspace, post_hoc, _ = results[name]
            assert subspace < 0.25 * post_hoc, name  # measured <= 0.09 over 6 seeds
        subspace, _, standard = results["sparsity 0"]
        assert subspace < 4.0 * standard  # measured 1.5 .. 2.7 over 6 seeds


@pytest.mark.slow
def test_subspace_table(carphone):
    """The numbers of docs/weights.md (6 seeds)."""
    torch.set_num_threads(1)
    runs = [_compare(carphone, seed) for seed in range(1, 7)]
    for name in POINTS:
        rows = [run[name] for run in runs]
        ratios = [subspace / post_hoc for subspace, post_hoc, _ in rows]
        print(
            f"{name}: subspace {sum(r[0] for r in rows) / 6:.5f}, post hoc "
            f"{sum(r[1] for r in rows) / 6:.5f}, standard {sum(r[2] for r in rows) / 6:.5f}, "
            f"subspace / post hoc {min(ratios):.2f} .. {max(ratios):.2f}"
        )
    for name in ("sparsity 0.8", "sparsity 0.9", "2 bits"):
        assert all(run[name][0] < 0.25 * run[name][1] for run in runs)
