"""PyG's ChebConv propagated through a precomputed sparse Laplacian (fast on CPU)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import ChebConv


class _SymmetricSpmm(torch.autograd.Function):
    """``L @ x`` for a symmetric sparse ``L``; the gradient is ``L @ grad`` again.

    torch's own CSR backward transposes the matrix on every call (about 10x the forward).
    """

    @staticmethod
    def forward(ctx, laplacian: Tensor, x: Tensor) -> Tensor:
        ctx.laplacian = laplacian
        return torch.sparse.mm(laplacian, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        return None, torch.sparse.mm(ctx.laplacian, grad)


class CSRChebConv(ChebConv):
    r"""The Chebyshev spectral graph convolution of :class:`torch_geometric.nn.ChebConv`
    (Defferrard et al., 2016, `"Convolutional Neural Networks on Graphs with Fast Localized
    Spectral Filtering" <https://arxiv.org/abs/1606.09375>`_), with the same parameters
    and output, fed a precomputed scaled Laplacian instead of an edge index.

    .. math::
        \mathbf{X}' = \sum_{k=0}^{K-1} \mathbf{Z}^{(k)} \mathbf{\Theta}^{(k)} + \mathbf{b},
        \quad \mathbf{Z}^{(0)} = \mathbf{X},\ \mathbf{Z}^{(1)} = \hat{\mathbf{L}}\mathbf{X},\
        \mathbf{Z}^{(k)} = 2\hat{\mathbf{L}}\mathbf{Z}^{(k-1)} - \mathbf{Z}^{(k-2)}

    with :math:`\hat{\mathbf{L}} = \mathbf{L}_{\mathrm{sym}} - \mathbf{I} =
    -\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` (``normalization="sym"``,
    :math:`\lambda_{\max} = 2`), built once per graph by
    :func:`nmc.pointcloud.msgat.graph.scaled_laplacian`. PyG's message passing scatters
    every edge message; one CSR product per hop is about 5x faster on CPU, and the
    Laplacian is shared by every layer on the same graph.

    Args:
        in_channels (int): size of each input feature.
        out_channels (int): size of each output feature.
        K (int): Chebyshev filter size.
        bias (bool, optional): learn an additive bias (default: ``True``).

    Shapes:
        - **input:** features :math:`(N, F_{in})`, symmetric sparse CSR Laplacian
          :math:`(N, N)`
        - **output:** features :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, K: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, K, normalization="sym", bias=bias)

    def forward(self, x: Tensor, laplacian: Tensor) -> Tensor:  # type: ignore[override]
        out = self.lins[0](x)
        prev, cur = x, x
        for k, lin in enumerate(self.lins[1:], start=1):
            hop = _SymmetricSpmm.apply(laplacian, cur)
            nxt = hop if k == 1 else 2.0 * hop - prev
            out = out + lin(nxt)
            prev, cur = cur, nxt
        if self.bias is not None:
            out = out + self.bias
        return out
