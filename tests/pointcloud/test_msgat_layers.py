"""Shapes and reference behaviour of the MS-GAT operators and network."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.nn import ChebConv

from nmc.pointcloud.msgat.config import ModelConfig
from nmc.pointcloud.msgat.graph import build_patch_graph, knn_edges, scaled_laplacian
from nmc.pointcloud.msgat.layers import ArtifactAttention, ChebStage, CSRChebConv, ScaleBranch
from nmc.pointcloud.msgat.model import MSGAT


def _graph(n: int = 60, k: int = 6):
    edges = knn_edges(np.random.default_rng(0).random((1, n, 3)), k)
    return torch.from_numpy(edges), scaled_laplacian(edges, n)


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
    assert attention(x, torch.rand(60, 1), edges).shape == (60, 16)
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
