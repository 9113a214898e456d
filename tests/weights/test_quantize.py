"""Uniform quantizers: exact integer round trip, bit-width ranges, per-channel steps."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from nmc.errors import InputError
from nmc.weights import dequantize, quantize, step_for_bits
from nmc.weights.quantize import MAX_ABS_LEVEL


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(0, 9),
    log_step=st.floats(-20, 10),
    per_channel=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_levels_survive_dequantize_quantize(rows, cols, log_step, per_channel, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(
        -MAX_ABS_LEVEL, MAX_ABS_LEVEL + 1, (rows, cols), generator=g, dtype=torch.int32
    )
    step = 2.0**log_step * (torch.rand(rows, generator=g) + 0.5 if per_channel else 1.0)
    axis = 0 if per_channel else None
    x = dequantize(q, step, axis)
    assert x.dtype == torch.float32
    assert torch.equal(quantize(x, step, axis), q)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_bit_width_levels_stay_in_range(bits):
    w = torch.randn(16, 8, generator=torch.Generator().manual_seed(bits))
    top = (1 << (bits - 1)) - 1
    for axis in (None, 0, 1):
        step = step_for_bits(w, bits, axis)
        q = quantize(w, step, axis, bits=bits)
        assert int(q.abs().max()) == top
        assert float((dequantize(q, step, axis) - w).abs().max()) <= float(step.max()) / 2 + 1e-6
    assert int(quantize(w, step_for_bits(w, bits) / 4, bits=bits).abs().max()) == top  # clamped


def test_quantizer_refuses_bad_input():
    with pytest.raises(InputError):
        quantize(torch.ones(3), torch.ones(2), channel_axis=0)
    with pytest.raises(InputError):
        quantize(torch.ones(3), -1.0)
    with pytest.raises(InputError):
        quantize(torch.ones(3, dtype=torch.int32), 1.0)
    with pytest.raises(InputError):
        quantize(torch.ones(3), 1e-9)  # levels past MAX_ABS_LEVEL
    with pytest.raises(InputError):
        step_for_bits(torch.ones(3), 1)
