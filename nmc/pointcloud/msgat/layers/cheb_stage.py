"""Stack of residual Chebyshev graph convolutions on one graph."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmc.pointcloud.msgat.layers.cheb_conv_csr import CSRChebConv


class ChebStage(torch.nn.Module):
    r"""Residual stack of Chebyshev graph convolutions (:class:`CSRChebConv`), the attribute
    feature extractor of MS-GAT.

    .. math::
        \mathbf{H}^{(l+1)} = \mathbf{H}^{(l)} + \sigma\Big(\sum_{k=0}^{K-1}
        T_k(\hat{\mathbf{L}})\, \mathbf{H}^{(l)} \mathbf{\Theta}^{(l)}_k\Big)

    where :math:`T_k` are Chebyshev polynomials of the scaled Laplacian
    :math:`\hat{\mathbf{L}}` and :math:`\sigma` is a leaky ReLU (slope 0.2).

    Args:
        channels (int): feature width, in and out.
        K (int): Chebyshev filter size (a K-1 hop neighbourhood).
        num_layers (int): residual ChebConv layers.

    Shapes:
        - **input:** features :math:`(N, C)`, sparse CSR Laplacian :math:`(N, N)`
        - **output:** features :math:`(N, C)`
    """

    def __init__(self, channels: int, K: int, num_layers: int) -> None:
        super().__init__()
        self.channels = channels
        self.K = K
        self.convs = torch.nn.ModuleList(
            CSRChebConv(channels, channels, K) for _ in range(num_layers)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, laplacian: Tensor) -> Tensor:
        for conv in self.convs:
            x = x + F.leaky_relu(conv(x, laplacian), 0.2)
        return x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, K={self.K}, num_layers={len(self.convs)})"
        )
