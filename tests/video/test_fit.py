"""The I-frame fit's schedule pieces: the early chroma emphasis and its annealing."""

from __future__ import annotations

import torch

from nmc.video.fit import boosted_weights
from nmc.video.planes import CHROMA, loss_weights


def test_chroma_emphasis_starts_at_the_boost_and_ends_at_the_metric():
    weights = loss_weights(18, 22)
    start = boosted_weights(weights, 4.0, 0.0)
    assert torch.allclose(start[CHROMA], 4.0 * weights[CHROMA])
    assert torch.equal(start[:4], weights[:4])  # luma keeps its 6:1:1 weight
    assert torch.allclose(boosted_weights(weights, 4.0, 0.5)[CHROMA], 2.5 * weights[CHROMA])
    assert torch.allclose(boosted_weights(weights, 4.0, 1.0), weights)
    assert boosted_weights(weights, 4.0, None) is weights  # straight-through phase: the metric
    assert boosted_weights(weights, 1.0, 0.0) is weights
