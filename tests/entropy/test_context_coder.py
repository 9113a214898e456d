import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmc.entropy import decode_symbols, encode_symbols
from nmc.errors import BitstreamError, InputError


@given(st.integers(0, 5000), st.integers(2, 300), st.integers(1, 40), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_round_trip(n, alphabet, contexts, seed):
    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, contexts, n)
    sym = rng.integers(0, alphabet, n)
    data = encode_symbols(sym, ctx, alphabet, contexts)
    np.testing.assert_array_equal(decode_symbols(data, ctx, alphabet, contexts), sym)


def test_contexts_are_exploited():
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 64, 300_000)
    sym = (ctx * 4 + rng.integers(0, 2, ctx.size)) % 256  # 1 bit per symbol given the context
    bits = 8 * len(encode_symbols(sym, ctx, 256, 64))
    assert bits < 1.06 * sym.size


def test_bad_arguments_and_bytes():
    ctx = np.zeros(10, dtype=np.int64)
    with pytest.raises(InputError, match="symbols must lie"):
        encode_symbols(np.full(10, 9), ctx, 4, 1)
    with pytest.raises(InputError, match="contexts must lie"):
        encode_symbols(np.zeros(10), ctx + 3, 4, 2)
    data = encode_symbols(np.arange(10) % 4, ctx, 4, 1)
    with pytest.raises(BitstreamError, match="count"):
        decode_symbols(data, ctx[:5], 4, 1)
    with pytest.raises(BitstreamError):
        decode_symbols(data[:3], ctx, 4, 1)
