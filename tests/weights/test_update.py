"""Weight updates: exact round trip, cheap unchanged tensors, refusal of a wrong reference."""

from __future__ import annotations

import contextlib

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from nmc.errors import BitstreamError, InputError
from nmc.weights import CodingConfig, decode_update, encode_state_dict, encode_update


def _network(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "fc1.weight": torch.randn(32, 16, generator=g) * 0.1,
        "fc1.bias": torch.randn(32, generator=g) * 0.01,
        "fc2.weight": torch.randn(3, 32, generator=g).to(torch.float16),
        "steps": torch.tensor(7),
    }


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    step=st.floats(1e-3, 0.1),
    config=st.sampled_from([CodingConfig(), CodingConfig("trellis"), CodingConfig("uniform", 0.1)]),
)
def test_update_round_trip_is_exact(seed, step, config):
    reference = _network(seed)
    g = torch.Generator().manual_seed(seed + 1)
    new = {
        k: v + (0.02 * torch.randn(v.shape, generator=g)).to(v.dtype)
        if v.is_floating_point()
        else v + 1
        for k, v in reference.items()
    }
    payload, recon = encode_update(new, reference, step, config=config)
    decoded = decode_update(payload, reference)
    assert decoded.keys() == recon.keys() == new.keys()
    for name in new:
        assert decoded[name].dtype == new[name].dtype
        assert torch.equal(decoded[name], recon[name]), name
    assert torch.equal(recon["steps"], new["steps"])


def test_uniform_update_is_reference_plus_levels_times_step():
    reference = _network(3)
    new = {k: v + 0.01 if v.dtype == torch.float32 else v for k, v in reference.items()}
    _, recon = encode_update(new, reference, 0.004)
    step = torch.tensor(0.004)
    expected = (
        reference["fc1.weight"]
        + torch.round((new["fc1.weight"] - reference["fc1.weight"]) / step) * step
    )
    assert torch.equal(recon["fc1.weight"], expected)


def test_unchanged_tensors_cost_one_byte_and_subsets_work():
    reference = _network(4)
    _, decoded_ref = encode_state_dict(reference, 0.01)
    same, _ = encode_update(decoded_ref, decoded_ref, 0.01)
    header = 2 + 1 + 1 + 4  # tag, version, count, mask, signature
    assert len(same) == header + len(reference)
    moved = {"fc1.bias": decoded_ref["fc1.bias"] + 0.05}
    payload, recon = encode_update(moved, decoded_ref, {"fc1.bias": 0.01})
    assert decode_update(payload, decoded_ref).keys() == {"fc1.bias"}
    assert torch.equal(decode_update(payload, decoded_ref)["fc1.bias"], recon["fc1.bias"])


def test_reference_mismatch_is_input_error():
    reference = _network(5)
    payload, _ = encode_update(_network(6), reference, 0.01)
    wrong_shape = dict(reference, **{"fc1.bias": torch.zeros(31)})
    wrong_dtype = dict(reference, **{"fc1.bias": torch.zeros(32, dtype=torch.float64)})
    renamed = {("x." + k if k == "fc1.bias" else k): v for k, v in reference.items()}
    missing = {k: v for k, v in reference.items() if k != "steps"}
    for bad in (wrong_shape, wrong_dtype, renamed, missing):
        with pytest.raises(InputError):
            decode_update(payload, bad)
    with pytest.raises(InputError):
        encode_update({"nope": torch.zeros(2)}, reference, 0.01)
    with pytest.raises(InputError):
        encode_update({"fc1.bias": torch.zeros(3)}, reference, 0.01)


def test_damaged_update_raises_bitstream_error():
    reference = _network(7)
    payload, _ = encode_update(_network(8), reference, 0.01)
    for cut in range(len(payload)):
        with pytest.raises((BitstreamError, InputError)):
            decode_update(payload[:cut], reference)
    with pytest.raises(BitstreamError):
        decode_update(b"W\x01\x00", reference)
    for pos in range(8, len(payload), 5):
        damaged = bytearray(payload)
        damaged[pos] ^= 0xA5
        with contextlib.suppress(BitstreamError):
            decode_update(bytes(damaged), reference)
