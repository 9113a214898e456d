"""Round trips of whole state_dicts: exact reconstruction, every dtype, every quantizer."""

from __future__ import annotations

import contextlib

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from nmc.errors import BitstreamError, InputError
from nmc.weights import CodingConfig, decode_state_dict, encode_state_dict

CONFIGS = [
    CodingConfig(),
    CodingConfig("uniform", rdo_lambda=0.2),
    CodingConfig("trellis"),
    CodingConfig("trellis", rdo_lambda=0.1),
]


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(0, 7), min_size=0, max_size=3),
    scale=st.floats(1e-3, 10.0),
    step=st.floats(1e-3, 1.0),
    seed=st.integers(0, 2**16),
    config=st.sampled_from(CONFIGS),
)
def test_round_trip_random_shapes(shape, scale, step, seed, config):
    g = torch.Generator().manual_seed(seed)
    tensors = {
        "w": torch.randn(shape, generator=g) * scale,
        "h": (torch.randn(shape, generator=g) * scale).to(torch.float16),
        "i": torch.randint(-1000, 1000, shape, generator=g),
    }
    payload, recon = encode_state_dict(tensors, step, config=config)
    _assert_same(decode_state_dict(payload), recon)
    assert torch.equal(recon["i"], tensors["i"])


def test_uniform_reconstruction_is_rounded_levels_times_step():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(33, 17, generator=g) * 0.05
    payload, recon = encode_state_dict({"w": w}, 0.003)
    step = torch.tensor(0.003, dtype=torch.float32)
    assert torch.equal(recon["w"], torch.round(w / step).float() * step)
    assert torch.equal(decode_state_dict(payload)["w"], recon["w"])


def test_per_channel_steps_and_mixed_dtypes():
    g = torch.Generator().manual_seed(1)
    tensors = {
        "conv.weight": torch.randn(8, 3, 3, 3, generator=g),
        "conv.bias": torch.randn(8, generator=g).to(torch.bfloat16),
        "bn.num_batches_tracked": torch.tensor(12),
        "mask": torch.rand(5, generator=g) > 0.5,
        "d": torch.randn(4, generator=g, dtype=torch.float64),
    }
    steps = {"conv.weight": torch.linspace(0.01, 0.08, 8), "conv.bias": 0.01, "d": 1e-4}
    # uniform: error <= step / 2; trellis: each of its two quantizers has step 2 * step
    for config, bound in ((CodingConfig(), 0.5), (CodingConfig("trellis"), 2.0)):
        payload, recon = encode_state_dict(tensors, steps, config=config)
        _assert_same(decode_state_dict(payload), recon)
        err = (recon["conv.weight"] - tensors["conv.weight"]).abs().amax(dim=(1, 2, 3))
        assert bool((err <= torch.linspace(0.01, 0.08, 8) * bound * 1.001).all())


def test_bad_inputs_are_input_errors():
    w = {"w": torch.ones(3)}
    with pytest.raises(InputError):
        encode_state_dict(w, 0.0)
    with pytest.raises(InputError):
        encode_state_dict(w, {"other": 0.1})
    with pytest.raises(InputError):
        encode_state_dict(w, torch.ones(4))
    for config in (CodingConfig(), CodingConfig("trellis")):
        with pytest.raises(InputError):
            encode_state_dict({"w": torch.tensor([1.0, float("inf")])}, 0.1, config=config)
    with pytest.raises(InputError):
        encode_state_dict({"w": torch.ones(2, dtype=torch.complex64)}, 0.1)
    with pytest.raises(InputError):
        CodingConfig("vector")


def test_damaged_payloads_raise_bitstream_error():
    g = torch.Generator().manual_seed(2)
    payload, _ = encode_state_dict(
        {"a": torch.randn(20, 9, generator=g), "b": torch.arange(5)}, 0.05
    )
    for cut in range(len(payload)):
        with pytest.raises(BitstreamError):
            decode_state_dict(payload[:cut])
    with pytest.raises(BitstreamError):
        decode_state_dict(payload + b"\0")
    for pos in range(0, len(payload), 3):
        damaged = bytearray(payload)
        damaged[pos] ^= 0x5A
        with contextlib.suppress(BitstreamError):
            decode_state_dict(bytes(damaged))
