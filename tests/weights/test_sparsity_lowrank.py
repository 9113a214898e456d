"""Sparsifiers and low-rank factors: exact counts, structure, optimality."""

from __future__ import annotations

import pytest
import torch

from nmc.errors import InputError
from nmc.weights.lowrank import compose, factorize, max_rank
from nmc.weights.sparsity import magnitude_mask, sparsify, sparsity_of, threshold_mask


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_element_mask_keeps_the_largest_magnitudes():
    w = _w(20, 10)
    mask = magnitude_mask(w, 0.75)
    assert int(mask.sum()) == 50
    assert float(w[mask].abs().min()) >= float(w[~mask].abs().max())
    assert sparsity_of(sparsify(w, mask)) == pytest.approx(0.75)


def test_row_mask_prunes_every_channel_equally():
    w = _w(6, 4, 5) * torch.logspace(-3, 1, 6)[:, None, None]
    mask = magnitude_mask(w, 0.5, "row", channel_axis=0)
    assert mask.reshape(6, -1).sum(dim=1).tolist() == [10] * 6
    cols = magnitude_mask(w, 0.5, "row", channel_axis=2)
    assert cols.movedim(2, 0).reshape(5, -1).sum(dim=1).tolist() == [12] * 5


def test_channel_mask_removes_whole_low_norm_channels():
    w = _w(8, 16) * torch.arange(1, 9, dtype=torch.float32)[:, None]
    mask = magnitude_mask(w, 0.25, "channel")
    assert mask[:2].sum() == 0 and bool(mask[2:].all())
    by_threshold = threshold_mask(w, 2.5, "channel")
    assert by_threshold.any(dim=1).tolist() == (w.pow(2).mean(1).sqrt() > 2.5).tolist()
    assert torch.equal(threshold_mask(w, 1.0), w.abs() > 1.0)


def test_sparsifier_rejects_bad_arguments():
    with pytest.raises(InputError):
        magnitude_mask(_w(3), 1.5)
    with pytest.raises(InputError):
        magnitude_mask(_w(3), 0.5, "block")
    with pytest.raises(InputError):
        sparsify(_w(3), torch.ones(4, dtype=torch.bool))


def test_factorization_is_the_best_low_rank_approximation():
    w = _w(12, 3, 2, 2)
    a, b = factorize(w, 4)
    assert a.shape == (12, 4) and b.shape == (4, 3, 2, 2)
    approx = compose(a, b)
    s = torch.linalg.svdvals(w.reshape(12, -1))
    assert float((approx - w).pow(2).sum()) == pytest.approx(float(s[4:].pow(2).sum()), rel=1e-4)
    full_a, full_b = factorize(w, max_rank(tuple(w.shape)))
    assert torch.allclose(compose(full_a, full_b), w, atol=1e-5)
    with pytest.raises(InputError):
        factorize(_w(5), 1)
    with pytest.raises(InputError):
        factorize(w, 13)
