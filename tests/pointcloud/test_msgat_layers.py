"""Shapes and reference behaviour of the MS-GAT operators and network."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.nn import ChebConv, GATv2Conv

from nmc.pointcloud.msgat.config import ModelConfig
from nmc.pointcloud.msgat.graph import (
    build_patch_graph,
    knn_neighbors,
    neighbors_to_edges,
    scaled_laplacian,
)
from nmc.pointcloud.msgat.layers import (
    ArtifactAttention,
    ChebStage,
    CSRChebConv,
    KNNGATv2Conv,
    ScaleBranch,
)
from nmc.pointcloud.msgat.model import MSGAT


def _graph(n: int = 60, k: int = 6):
    edges = neighbors_to_edges(knn_neighbors(np.random.default_rng(0).random((1, n, 3)), k))
    return torch.from_numpy(edges), scaled_laplacian(edges, n)


def test_knn_gatv2_equals_pyg_gatv2conv_with_and_without_autograd():
    """Same parameters, same output as PyG's GATv2Conv on the kNN graph (both the sparse
    inference path and the autograd path), same gradients; a neighbour equal to the node
    itself counts once, as PyG's self-loop handling does."""
    neighbors = torch.from_numpy(knn_neighbors(np.random.default_rng(6).random((2, 40, 3)), 5))
    neighbors[3, 2] = 3  # a self loop in the table
    ours = KNNGATv2Conv(9, 4, heads=3)
    ref = GATv2Conv(9, 4, heads=3)
    assert set(ours.state_dict()) == set(ref.state_dict())
    torch.nn.init.normal_(ours.bias)  # PyG starts it at 0: make it count
    ref.load_state_dict(ours.state_dict())
    edges = torch.from_numpy(neighbors_to_edges(neighbors.numpy()))
    x = torch.randn(80, 9, requires_grad=True)
    y_ref = ref(x, edges)
    with torch.inference_mode():
        y_fast = ours(x.detach(), neighbors)
    torch.testing.assert_close(y_fast, y_ref.detach(), rtol=1e-5, atol=1e-5)
    y_ours = ours(x, neighbors)
    torch.testing.assert_close(y_ours, y_ref, rtol=1e-5, atol=1e-5)
    (g_ours,) = torch.autograd.grad(y_ours.square().sum(), x)
    (g_ref,) = torch.autograd.grad(y_ref.square().sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-4)
    assert ours(x, neighbors[:, :0]).shape == (80, 12)  # no neighbours: the self loop only


def test_csr_cheb_conv_equals_pyg_chebconv_with_gradients():
    edges, lap = _graph()
    ours = CSRChebConv(8, 5, K=4)
    ref = ChebConv(8, 5, K=4, normalization="sym")
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(60, 8, requires_grad=True)
    both = torch.cat([edges, edges.flip(0)], dim=1)  # the symmetrised graph PyG normalises
    y_ours, y_ref = ours(x, lap), ref(x, both, lambda_max=2.0)
    torch.testing.assert_close(y_ours, y_ref, rtol=1e-5, atol=1e-5)
    (g_ours,) = torch.autograd.grad(y_ours.square().sum(), x)
    (g_ref,) = torch.autograd.grad(y_ref.square().sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-4)


def test_operator_shapes():
    edges, lap = _graph()
    x = torch.randn(60, 16)
    assert ChebStage(16, 3, 2)(x, lap).shape == (60, 16)
    branch = ScaleBranch(16, 3, 1)
    subset = torch.arange(0, 60, 2)
    _, sub_lap = _graph(30)
    upsample = torch.arange(60) // 2
    assert branch(x, sub_lap, subset, upsample).shape == (60, 16)
    assert branch(x, lap).shape == (60, 16)
    attention = ArtifactAttention(16, heads=4)
    neighbors = torch.from_numpy(knn_neighbors(np.random.default_rng(0).random((1, 60, 3)), 6))
    assert attention(x, torch.rand(60, 1), neighbors).shape == (60, 16)
    assert "heads=4" in repr(attention) and "K=3" in repr(ChebStage(16, 3, 2))


def test_msgat_starts_as_identity_and_learns():
    config = ModelConfig(channels=16, cheb_k=3, knn=4, heads=2)
    model = MSGAT(config)
    pos = np.random.default_rng(1).integers(0, 50, size=(2, 40, 3))
    graph = build_patch_graph(pos, config.scales, config.knn)
    ycc = torch.rand(80, 3) * 255
    step = torch.full((80,), 30.0)
    out = model(ycc, step, graph)
    assert out.shape == (80, 3) and torch.all(out == 0)
    out.sum().backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_model_config_validation_and_round_trip():
    config = ModelConfig(channels=24, heads=3)
    assert ModelConfig.from_dict(config.to_dict()) == config
    for bad in ({"channels": 30, "heads": 4}, {"scales": (2, 4)}, {"cheb_k": 0}):
        try:
            ModelConfig(**bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")
