"""Reduced parameter space: exact conversion, constraints in training, the frame-fitting task."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from nmc.errors import InputError
from nmc.weights import decode_state_dict, encode_state_dict
from nmc.weights.sphere import BoundedBias, reduce_layer, remove_reduced, to_reduced
from tests.weights.frame_task import features, fit, frame_crop, loss, mlp


def _extreme_mlp() -> tuple[nn.Sequential, torch.Tensor, float]:
    """A ReLU MLP with always-off, always-on and all-zero neurons, and inputs with ||x|| <= 3."""
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Linear(6, 10),
        nn.ReLU(),
        nn.Linear(10, 12, bias=False),
        nn.ReLU(),
        nn.Linear(12, 8),
        nn.ReLU(),
        nn.Linear(8, 4),
    )
    with torch.no_grad():
        model[0].bias[:4] = torch.tensor([40.0, -40.0, 1e4, -1e4])  # |t| far beyond X = 3
        model[0].weight[4] = 0.0  # constant neurons: relu(b) > 0 and relu(b) = 0
        model[0].bias[4] = 2.5
        model[0].weight[5] = 0.0
        model[0].bias[5] = -1.0
        model[4].bias[:2] = torch.tensor([1e3, -1e3])
    x = torch.randn(256, 6, generator=torch.Generator().manual_seed(6))
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(256, 1) * 3.0
    x[:8] = x[:8] / x[:8].norm(dim=1, keepdim=True) * 3.0  # on the boundary of the ball
    return model, x, 3.0


def _hidden(model: nn.Sequential) -> list[nn.Module]:
    return list(model)[:-1:2]


def test_conversion_is_exact_and_constrained():
    torch.set_num_threads(1)
    model, x, bound = _extreme_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reduced = to_reduced(model, bound)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched

    with torch.no_grad():
        expected, got = model(x), reduced(x)
    tolerance = 1e-5 * float(expected.abs().max())
    assert torch.allclose(got, expected, rtol=1e-5, atol=tolerance)
    bounds = [bound, 2 * math.sqrt(10) * bound, 4 * math.sqrt(10 * 12) * bound]
    for layer, limit in zip(_hidden(reduced), bounds):
        assert layer.parametrizations.bias[0].bound == pytest.approx(limit, rel=2e-7)
        assert torch.allclose(layer.weight.norm(dim=1), torch.ones(layer.out_features))
        assert float(layer.bias.detach().abs().max()) <= limit
    assert not parametrize.is_parametrized(reduced[-1])
    first = reduced[0].bias.detach()
    assert first[[1, 3, 5]].tolist() == [-bound] * 3  # never firing
    assert first[[0, 2]].tolist() == [bound] * 2  # always firing, excess in the next bias

    wide = model.double()  # float64: exact up to float64 rounding
    with torch.no_grad():
        error = (to_reduced(wide, bound)(x.double()) - wide(x.double())).abs().max()
    assert float(error) < 1e-9 * float(expected.abs().max())

    plain = remove_reduced(reduced)
    assert not any(parametrize.is_parametrized(layer) for layer in plain)
    with torch.no_grad():
        assert torch.allclose(plain(x), expected, rtol=1e-5, atol=tolerance)
    payload, recon = encode_state_dict(plain.state_dict(), 1e-4)
    assert all(torch.equal(recon[k], v) for k, v in decode_state_dict(payload).items())
    assert all(
        torch.allclose(recon[k], v, rtol=1e-6, atol=5e-5) for k, v in plain.state_dict().items()
    )


def test_constraints_hold_in_training():
    torch.set_num_threads(1)
    model, x, bound = _extreme_mlp()
    reduced = to_reduced(model, bound)
    target = torch.randn(len(x), 4, generator=torch.Generator().manual_seed(7))
    opt = torch.optim.Adam(reduced.parameters(), lr=0.5)  # large steps push past the bounds
    pushed = False
    for _ in range(20):
        loss_value = ((reduced(x) - target) ** 2).mean()
        opt.zero_grad()
        loss_value.backward()
        opt.step()
        for layer in _hidden(reduced):
            limit = layer.parametrizations.bias[0].bound
            pushed |= bool((layer.parametrizations.bias.original.abs() > limit).any())
            assert torch.allclose(layer.weight.norm(dim=1), torch.ones(layer.out_features))
            assert float(layer.bias.detach().abs().max()) <= limit
    assert pushed  # the raw thresholds did leave the interval: the clamp was exercised


def test_bounded_bias_passes_only_inward_gradients():
    v = torch.tensor([2.0, 2.0, -2.0, -2.0, 0.5], requires_grad=True)
    clamped = BoundedBias(1.0)(v)
    assert clamped.tolist() == [1.0, 1.0, -1.0, -1.0, 0.5]
    # descent moves v by -grad: -1 at v = 2 would push it further out, +1 pulls it back
    clamped.backward(torch.tensor([-1.0, 1.0, 1.0, -1.0, 3.0]))
    assert v.grad.tolist() == [0.0, 1.0, 0.0, -1.0, 3.0]


def test_reduce_layer_on_conv2d():
    conv = nn.Conv2d(3, 5, 3)
    reduce_layer(conv, 2.0)
    norms = conv.weight.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones(5))
    assert float(conv.bias.detach().abs().max()) <= 2.0
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(conv(x), nn.functional.conv2d(x, conv.weight, conv.bias))


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)), "Tanh"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU()), "Linear, ReLU, ..., Linear"),
        (nn.Linear(4, 2), "nn.Sequential"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(5, 2)), "4 outputs"),
    ],
)
def test_unsupported_networks_are_refused(model, message):
    with pytest.raises(InputError, match=message):
        to_reduced(model, 1.0)


def test_bad_bounds_and_layers_are_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    for bound in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(InputError, match="finite and > 0"):
            to_reduced(model, bound)
    with pytest.raises(InputError, match="nn.Linear and nn.Conv2d"):
        reduce_layer(nn.Conv1d(2, 2, 3), 1.0)
    with pytest.raises(InputError, match="plain layers"):
        to_reduced(to_reduced(model, 1.0), 1.0)


def _training_ratios(carphone, seeds: range, steps: int, lr: float) -> list[float]:
    """Final loss of the reduced over the standard network, same init, steps and lr."""
    target, x = frame_crop(carphone), features()
    ratios = []
    for seed in seeds:
        standard, reduced = mlp(seed), to_reduced(mlp(seed), float(x.norm(dim=1).max()))
        fit(standard, x, target, steps, lr)
        fit(reduced, x, target, steps, lr)
        ratios.append(loss(reduced, x, target) / loss(standard, x, target))
    return ratios


def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def test_reduced_space_trains_at_least_as_well(carphone):
    torch.set_num_threads(1)
    ratios = _training_ratios(carphone, range(1, 6), 300, 1e-2)
    assert _geometric_mean(ratios) < 1.0  # measured 0.88 (seeds 1..5); per seed 0.77 .. 1.13


@pytest.mark.slow
def test_reduced_space_training_table(carphone):
    """The numbers of docs/weights.md (10 seeds, 3 learning rates)."""
    torch.set_num_threads(1)
    for lr in (1e-3, 3e-3, 1e-2):
        ratios = _training_ratios(carphone, range(1, 11), 300, lr)
        wins = sum(r < 1 for r in ratios)
        print(
            f"lr {lr:g}: geometric mean ratio {_geometric_mean(ratios):.3f}, reduced better "
            f"for {wins}/10 seeds, ratios {min(ratios):.2f} .. {max(ratios):.2f}"
        )
        assert _geometric_mean(ratios) < 1.05
