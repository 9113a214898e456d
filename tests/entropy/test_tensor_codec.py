import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nmc.entropy import decode_tensor, encode_tensor, tensor_bits
from nmc.entropy.models import KIND_NAMES
from nmc.errors import BitstreamError, InputError

int_dtypes = st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64"])


@given(hnp.arrays(int_dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9)))
@settings(max_examples=150, deadline=None)
def test_round_trip_any_shape_dtype_range(x):
    y = decode_tensor(encode_tensor(x))
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


@given(
    hnp.arrays(
        "int64",
        st.tuples(st.integers(1, 6), st.integers(1, 40)),
        elements=st.integers(-(2**62), 2**62),
    ),
    st.sampled_from([None, 0, 1, -1]),
)
@settings(max_examples=60, deadline=None)
def test_round_trip_per_channel_and_outliers(x, axis):
    np.testing.assert_array_equal(decode_tensor(encode_tensor(x, channel_axis=axis)), x)


def test_bool_and_torch_inputs():
    mask = np.random.default_rng(0).random((7, 5)) < 0.3
    np.testing.assert_array_equal(decode_tensor(encode_tensor(mask)), mask)
    t = torch.arange(-50, 50, dtype=torch.int32).reshape(10, 10)
    np.testing.assert_array_equal(decode_tensor(encode_tensor(t)), t.numpy())


def test_rejects_float_and_bad_axis():
    with pytest.raises(InputError, match="integer"):
        encode_tensor(np.zeros(3, dtype=np.float32))
    with pytest.raises(InputError, match="channel_axis"):
        encode_tensor(np.zeros((2, 2), dtype=np.int8), channel_axis=2)


def _entropy_bits(x):
    _, counts = np.unique(x, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


@pytest.mark.parametrize("scale", [0.5, 2.0, 8.0])
def test_iid_laplace_within_one_percent_of_entropy(scale):
    x = np.round(np.random.default_rng(1).laplace(0, scale, 200_000)).astype(np.int32)
    assert tensor_bits(x) <= 1.01 * _entropy_bits(x)


def test_per_channel_models_beat_one_model():
    rng = np.random.default_rng(2)
    scales = np.geomspace(0.1, 20, 32)[:, None]
    x = np.round(rng.laplace(0, 1, (32, 4000)) * scales).astype(np.int16)
    whole = 8 * len(encode_tensor(x.reshape(-1)))
    assert tensor_bits(x, channel_axis=0) < 0.9 * whole


def test_sparse_tensor_costs_near_its_entropy():
    rng = np.random.default_rng(3)
    x = np.where(rng.random(100_000) < 0.95, 0, np.round(rng.laplace(0, 30, 100_000)))
    x = x.astype(np.int16)
    assert tensor_bits(x) <= 1.03 * _entropy_bits(x)


def test_constant_and_empty_tensors_are_tiny():
    assert len(encode_tensor(np.zeros((1000, 1000), dtype=np.int8))) < 16
    assert len(encode_tensor(np.zeros((0, 4), dtype=np.int8))) < 16
    assert set(KIND_NAMES.values()) >= {"laplace", "gaussian", "histogram", "zero-aware"}


def test_damaged_payload_raises_bitstream_error():
    data = encode_tensor(np.arange(-100, 100, dtype=np.int16))
    with pytest.raises(BitstreamError):
        decode_tensor(data[:5])
    with pytest.raises(BitstreamError):
        decode_tensor(b"\x09" + data[1:])
