"""Graph attention that weighs neighbours by how much artifact they carry."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmc.pointcloud.msgat.layers.knn_gatv2_conv import KNNGATv2Conv


class ArtifactAttention(torch.nn.Module):
    r"""Residual multi-head graph attention (GATv2, Brody et al., 2022, `"How Attentive are
    Graph Attention Networks?" <https://arxiv.org/abs/2105.14491>`_) conditioned on the
    quantization step, so that the weights can favour points with more artifact.

    .. math::
        \mathbf{h}_i' = \mathbf{h}_i + \sigma\Big(\big\Vert_{m=1}^{M}
        \sum_{j \in \mathcal{N}(i) \cup \{i\}} \alpha^{m}_{ij} \mathbf{W}^{m}_{s}
        \mathbf{z}_j\Big), \qquad \mathbf{z}_j = [\mathbf{h}_j \Vert q_j]

    .. math::
        \alpha^{m}_{ij} = \operatorname{softmax}_j\Big(\mathbf{a}^{m\top}
        \mathrm{LeakyReLU}\big(\mathbf{W}^{m}_{t} \mathbf{z}_i + \mathbf{W}^{m}_{s}
        \mathbf{z}_j\big)\Big)

    where :math:`q_j` is the (log) quantization step of point j and :math:`M` the number of
    heads, each of width C / M.

    Args:
        channels (int): feature width, in and out; divisible by ``heads``.
        heads (int): attention heads.

    Shapes:
        - **input:** features :math:`(N, C)`, step feature :math:`(N, 1)`, the k nearest
          neighbours of every node :math:`(N, k)` int64 (:class:`KNNGATv2Conv`)
        - **output:** features :math:`(N, C)`
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels={channels} must be divisible by heads={heads}")
        self.channels = channels
        self.heads = heads
        self.conv = KNNGATv2Conv(channels + 1, channels // heads, heads=heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, step: Tensor, neighbors: Tensor) -> Tensor:
        z = torch.cat([x, step], dim=1)
        return x + F.leaky_relu(self.conv(z, neighbors), 0.2)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"
