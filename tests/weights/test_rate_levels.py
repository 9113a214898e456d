"""The Laplace rate estimate tracks real coded sizes; the context level coder round-trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmc.entropy import encode_tensor
from nmc.errors import BitstreamError
from nmc.weights import laplace_rate_bits, tensors_rate_bits
from nmc.weights.levels import CONTEXT, decode_levels, encode_levels
from nmc.weights.rdoq import rdo_quantize
from nmc.weights.trellis import trellis_multipliers, trellis_quantize


def test_rate_estimate_matches_coded_size():
    g = torch.Generator().manual_seed(0)
    for scale in (0.3, 2.0, 20.0):
        x = torch.distributions.Laplace(0.0, scale).sample((20000,))
        coded = 8 * len(encode_tensor(torch.round(x).to(torch.int32)))
        with torch.no_grad():
            estimate = float(laplace_rate_bits(x))
        assert estimate == pytest.approx(coded, rel=0.06)
    y = torch.randn(500, generator=g, requires_grad=True)
    bits = laplace_rate_bits(4 * y)
    bits.backward()
    assert bits.ndim == 0 and float(bits.detach()) > 0 and bool(torch.isfinite(y.grad).all())
    assert float(y.grad.abs().sum()) > 0
    fixed = laplace_rate_bits(torch.zeros(10), scale=torch.tensor(1.0))
    assert float(fixed) == pytest.approx(10 * -np.log2(1 - np.exp(-0.5)), rel=1e-4)


def test_tensors_rate_equals_the_sum_of_per_tensor_rates():
    g = torch.Generator().manual_seed(2)
    tensors = [torch.randn(5, 3, generator=g) * 7, torch.zeros(4), torch.empty(0),
               torch.randn(9, generator=g) * 0.3]  # fmt: skip
    with torch.no_grad():
        each = sum(float(laplace_rate_bits(t)) for t in tensors)
        assert float(tensors_rate_bits(tensors)) == pytest.approx(each, rel=1e-5)
    leaf = torch.randn(50, generator=g, requires_grad=True)
    tensors_rate_bits([leaf * 3, leaf[:7] * 0.1]).backward()
    assert bool(torch.isfinite(leaf.grad).all()) and float(leaf.grad.abs().sum()) > 0
    assert float(tensors_rate_bits([])) == 0.0


def test_context_levels_round_trip_and_beat_order0_on_scaled_rows():
    g = torch.Generator().manual_seed(1)
    scales = torch.logspace(-1, 1, 256)[:, None] * torch.logspace(-0.5, 0.5, 192)[None, :]
    q = torch.round(torch.randn(256, 192, generator=g) * scales * 4).to(torch.int64).numpy()
    q[3, 5] = 100000  # an escape
    data = encode_levels(q)
    assert data[0] == CONTEXT
    assert len(data) < len(encode_tensor(q.reshape(-1)))
    assert np.array_equal(decode_levels(data), q)
    for shape in [(), (0,), (7,), (3, 0), (1, 1), (5, 2, 3)]:
        levels = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) - 2
        assert np.array_equal(decode_levels(encode_levels(levels)), levels)
    for cut in range(0, len(data), len(data) // 40 + 1):
        with pytest.raises(BitstreamError):
            decode_levels(data[:cut])


def test_rdoq_and_trellis_trade_error_for_bits():
    g = torch.Generator().manual_seed(2)
    w = torch.distributions.Laplace(0.0, 0.02).sample((256, 64))
    step = 0.02
    plain = rdo_quantize(w, step, 0.0)
    rdoq = rdo_quantize(w, step, 0.3)
    assert torch.equal(plain, torch.round(w / step).to(torch.int32))
    assert bool(((rdoq - plain).abs() <= 1).all()) and bool((rdoq.abs() <= plain.abs()).all())
    assert len(encode_tensor(rdoq)) < len(encode_tensor(plain))
    levels = trellis_quantize(w, step / 2)
    rec = trellis_multipliers(levels).float() * (step / 2)
    assert float((rec - w).abs().max()) <= step + 1e-6
    del g
