"""The adaptive context coder: round trips across passes and streams, damage handling."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel, ContextState
from nmc.errors import BitstreamError

BITS = ContextModel("bits", 40, share=8)
FLAGS = ContextModel("flags", 5, first_block=16, last_block=64, halve_at=512)


def _passes(seed: int) -> list[tuple[ContextModel, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for size in (0, 3, 700, 5000):
        ctx = rng.integers(0, 40, size)
        out.append((BITS, (rng.random(size) < ctx / 45).astype(np.int64), ctx))
        ctx = rng.integers(0, 5, size)
        out.append((FLAGS, (rng.random(size) < 0.1 + 0.2 * ctx).astype(np.int64), ctx))
    return out


def test_round_trip_over_streams_with_carried_statistics():
    passes = _passes(0)
    enc_state, streams = ContextState(), []
    for half in (passes[:4], passes[4:]):
        encoder = AdaptiveEncoder(enc_state)
        for model, symbols, ctx in half:
            encoder.encode(model, symbols, ctx)
        streams.append(encoder.finish())
    dec_state = ContextState()
    decoded = []
    for stream, half in zip(streams, (passes[:4], passes[4:])):
        decoder = AdaptiveDecoder(stream, sum(len(c) for _, _, c in half), "test", dec_state)
        decoded += [decoder.decode(model, ctx) for model, _, ctx in half]
    for (_, symbols, _), got in zip(passes, decoded):
        np.testing.assert_array_equal(got, symbols)


def test_skewed_contexts_cost_little():
    rng = np.random.default_rng(1)
    ctx = rng.integers(0, 40, 20000)
    symbols = (rng.random(20000) < np.where(ctx < 20, 0.01, 0.5)).astype(np.int64)
    encoder = AdaptiveEncoder()
    encoder.encode(BITS, symbols, ctx)
    ideal = 20000 * (0.5 * 0.0808 + 0.5 * 1.0)
    assert 8 * len(encoder.finish()) < 1.05 * ideal + 800


def test_damage_never_crashes():
    passes = _passes(2)
    encoder = AdaptiveEncoder()
    for model, symbols, ctx in passes:
        encoder.encode(model, symbols, ctx)
    stream = bytearray(encoder.finish())
    for cut in (0, 1, len(stream) // 2):
        decoder = AdaptiveDecoder(bytes(stream[:cut]), 20000, "test")
        for model, _, ctx in passes:
            got = decoder.decode(model, ctx)
            assert got.size == ctx.size and got.min(initial=0) >= 0
            assert got.max(initial=0) <= 1
    decoder = AdaptiveDecoder(bytes(stream), 10, "test")
    with pytest.raises(BitstreamError):
        decoder.decode(BITS, np.zeros(11, dtype=np.int64))
    with pytest.raises(BitstreamError):
        AdaptiveDecoder(bytes(stream), 10, "test").decode(BITS, np.array([40]))
