"""The Laplace table bank: exact round trips with escapes, and cost near the ideal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmc.entropy.laplace import LaplaceBank, LaplaceStreamDecoder
from nmc.errors import BitstreamError


@pytest.mark.parametrize("offsets", [1, 16])
def test_round_trip_in_passes_with_escapes(offsets):
    bank = LaplaceBank(0.05, 100.0, scale_bins=32, offsets=offsets, half=15)
    rng = np.random.default_rng(0)
    mu = rng.normal(0, 3, 5000) if offsets > 1 else np.zeros(5000)
    scale = np.exp(rng.uniform(-2, 4, 5000))
    values = np.round(mu + rng.laplace(0, scale)).astype(np.int64)
    values[::997] = 10_000  # far outside the alphabet: escaped
    base, index = bank.choose(mu, scale)
    data = bank.encode(values, base, index)
    decoder = LaplaceStreamDecoder(bank, data, values.size, "test")
    parts = [decoder.decode(base[a:b], index[a:b]) for a, b in ((0, 1234), (1234, 5000))]
    decoder.finish()
    assert np.array_equal(np.concatenate(parts), values)
    with pytest.raises(ValueError, match="left"):
        decoder.decode(base[:1], index[:1])


def test_cost_is_close_to_the_ideal_laplace():
    bank = LaplaceBank(0.05, 100.0)
    rng = np.random.default_rng(1)
    b = 2.0
    values = np.round(rng.laplace(0, b, 100_000)).astype(np.int64)
    base, index = bank.choose(np.zeros(values.size), np.full(values.size, b))
    data = bank.encode(values, base, index)
    p = np.exp(-np.abs(np.arange(-60, 61)) / b)
    ideal = -np.log2(p / p.sum())
    counts = np.bincount(values + 60, minlength=121)
    entropy = float((counts * ideal).sum())
    assert 8 * len(data) < entropy * 1.02
    assert math.isfinite(entropy)


def test_unused_escapes_are_damage():
    bank = LaplaceBank(0.05, 100.0, half=15)
    values = np.array([0, 1, 100], dtype=np.int64)
    base, index = bank.choose(np.zeros(3), np.ones(3))
    data = bank.encode(values, base, index)
    decoder = LaplaceStreamDecoder(bank, data, 2, "test")
    decoder.decode(base[:2], index[:2])
    with pytest.raises(BitstreamError, match="unused escaped"):
        decoder.finish()
