"""Initial context statistics: the shipped table, its selection by QP and its effect."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.entropy.adaptive import INCREMENT, AdaptiveDecoder, AdaptiveEncoder, seeded_state
from nmc.pointcloud.coefficients import SIGNIFICANT
from nmc.pointcloud.priors import (
    MODELS,
    PRIOR_OBSERVATIONS,
    PRIOR_QPS,
    cap_counts,
    encode_table,
    initial_state,
    table_qp,
)


def test_table_qp_is_the_nearest_ctc_qp():
    qps = (4, 22, 25, 26, 31, 48, 49, 63)
    assert [table_qp(q) for q in qps] == [22, 22, 22, 28, 28, 46, 51, 51]


def test_shipped_tables_are_capped_counts_of_every_model():
    for qp in PRIOR_QPS:
        state = initial_state(qp)
        for model in MODELS:
            counts = state.of(model).counts
            assert counts.shape == (model.num_contexts, 2) and counts.min() >= 0
            assert counts.sum(axis=1).max() <= PRIOR_OBSERVATIONS * INCREMENT + 1
        significant = state.of(SIGNIFICANT).counts
        assert significant[:, 0].sum() > significant[:, 1].sum() > 0  # mostly zeros


def test_cap_counts_and_table_text_round_trip():
    counts = np.array([[3 * 16, 16], [1000, 3000], [0, 0]])
    capped = cap_counts(counts)
    np.testing.assert_array_equal(capped[[0, 2]], counts[[0, 2]])
    assert capped[1].sum() == PRIOR_OBSERVATIONS * INCREMENT and capped[1, 1] == 3 * capped[1, 0]
    with pytest.raises(ValueError):
        encode_table(np.zeros((1, 2, 2)))


def test_seeded_statistics_code_skewed_symbols_in_fewer_bits_and_decode_alike():
    rng = np.random.default_rng(0)
    symbols = (rng.random(400) < 0.05).astype(np.int64)
    contexts = np.zeros(400, dtype=np.int64)
    seed = np.zeros((SIGNIFICANT.num_contexts, 2), dtype=np.int64)
    seed[0] = [19 * 16 * 16, 16 * 16]

    def stream(seeded: bool) -> bytes:
        coder = AdaptiveEncoder(seeded_state({SIGNIFICANT: seed}) if seeded else None)
        coder.encode(SIGNIFICANT, symbols, contexts)
        return coder.finish()

    plain, seeded = stream(False), stream(True)
    assert len(seeded) < len(plain)
    decoder = AdaptiveDecoder(seeded, 400, "test", seeded_state({SIGNIFICANT: seed}))
    np.testing.assert_array_equal(decoder.decode(SIGNIFICANT, contexts), symbols)
    with pytest.raises(ValueError, match="shape"):
        seeded_state({SIGNIFICANT: seed[:5]})
