"""Neighbourhoods of MS-GAT: farthest-point sampling, kNN graphs, scaled Laplacians."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmc.pointcloud.msgat.graph import (
    build_patch_graph,
    farthest_point_sampling,
    knn_edges,
    knn_neighbors,
    neighbor_laplacian,
    neighbors_to_edges,
    scaled_laplacian,
)


def _brute_fps(pos: np.ndarray, count: int) -> np.ndarray:
    chosen = [0]
    dist = ((pos - pos[0]) ** 2).sum(1)
    for _ in range(count - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((pos - pos[nxt]) ** 2).sum(1))
    return np.array(chosen)


def test_fps_matches_brute_force_on_voxels():
    rng = np.random.default_rng(1)
    pos = rng.integers(0, 64, size=(3, 300, 3)).astype(np.float32)
    index, nearest = farthest_point_sampling(pos, 150, track=(40, 150))
    for b in range(3):
        np.testing.assert_array_equal(index[b], _brute_fps(pos[b].astype(np.float64), 150))
        for t, owner in zip((40, 150), nearest):
            samples = pos[b][index[b, :t]]
            d = ((pos[b][:, None, :] - samples[None]) ** 2).sum(-1)
            # Nearest sample by distance; ties resolved towards the earliest sample.
            np.testing.assert_array_equal(owner[b], np.argmin(d, axis=1))


def test_fps_single_patch_and_prefix_property():
    pos = np.random.default_rng(2).random((100, 3))
    full, _ = farthest_point_sampling(pos, 60)
    short, _ = farthest_point_sampling(pos, 20)
    assert full.shape == (60,) and len(set(full.tolist())) == 60
    np.testing.assert_array_equal(full[:20], short)


@pytest.mark.parametrize("count", [0, 11])
def test_fps_rejects_bad_counts(count):
    with pytest.raises(ValueError):
        farthest_point_sampling(np.zeros((10, 3)), count)


def test_knn_edges_match_brute_force_and_stay_in_patch():
    rng = np.random.default_rng(3)
    pos = rng.random((2, 50, 3))
    edges = knn_edges(pos, 5)
    assert edges.shape == (2, 2 * 50 * 5)
    src, dst = edges
    assert np.all(src // 50 == dst // 50) and np.all(src != dst)
    for node in (0, 17, 73):
        b, i = divmod(node, 50)
        d = ((pos[b] - pos[b, i]) ** 2).sum(1)
        d[i] = np.inf
        expect = set((np.argsort(d)[:5] + 50 * b).tolist())
        assert set(src[dst == node].tolist()) == expect


def test_knn_edges_small_patches():
    assert knn_edges(np.zeros((1, 1, 3)), 8).shape == (2, 0)
    assert knn_edges(np.random.default_rng(0).random((1, 4, 3)), 8).shape == (2, 12)


def test_scaled_laplacian_is_symmetric_with_zero_diagonal():
    edges = knn_edges(np.random.default_rng(4).random((1, 40, 3)), 6)
    lap = scaled_laplacian(edges, 40).to_dense()
    torch.testing.assert_close(lap, lap.T)
    assert torch.all(torch.diagonal(lap) == 0)
    # -D^-1/2 A D^-1/2 has spectral radius 1 (the Chebyshev recursion stays bounded).
    assert torch.linalg.eigvalsh(lap.double()).abs().max() <= 1.0 + 1e-6


def test_neighbor_laplacian_equals_the_edge_list_one():
    """The neighbour-table Laplacian is bit for bit the edge-list one, duplicate points
    (a neighbour that is the node itself, dropped) included."""
    pos = np.random.default_rng(7).integers(0, 6, size=(2, 80, 3)).astype(np.float64)
    neighbors = knn_neighbors(pos, 6)
    neighbors[5, 0] = 5
    fast = neighbor_laplacian(neighbors)
    slow = scaled_laplacian(neighbors_to_edges(neighbors), 160)
    for a, b in zip(
        (fast.crow_indices(), fast.col_indices(), fast.values()),
        (slow.crow_indices(), slow.col_indices(), slow.values()),
    ):
        assert torch.equal(a, b)


def test_build_patch_graph_levels():
    pos = np.random.default_rng(5).integers(0, 100, size=(3, 64, 3))
    graph = build_patch_graph(pos, (1, 2, 4), 4)
    assert graph.num_nodes == 192 and len(graph.levels) == 3
    full, half, quarter = graph.levels
    assert full.subset is None and full.laplacian.shape == (192, 192)
    assert full.neighbors.shape == (192, 4) and half.neighbors.shape == (96, 4)
    assert half.subset.shape == (96,) and quarter.subset.shape == (48,)
    assert half.upsample.shape == (192,) and int(half.upsample.max()) < 96
    # Subsets stay inside their own patch.
    assert torch.equal(half.subset.view(3, 32) // 64, torch.arange(3)[:, None].expand(3, 32))
    # The quarter-scale samples are the first half of the half-scale samples.
    assert torch.equal(quarter.subset.view(3, 16), half.subset.view(3, 32)[:, :16])
