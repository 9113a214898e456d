"""PyG's ChebConv propagated through a precomputed sparse Laplacian (fast on CPU)."""

from __future__ import annotations

import torch
from torch import Tensor

from nmc.pointcloud.msgat.layers.init import glorot_linear, reset_glorot_linear


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


class CSRChebConv(torch.nn.Module):
    r"""The Chebyshev spectral graph convolution of :class:`torch_geometric.nn.ChebConv`
    (Defferrard et al., 2016, `"Convolutional Neural Networks on Graphs with Fast Localized
    Spectral Filtering" <https://arxiv.org/abs/1606.09375>`_), with the same parameters
    (names, shapes, initialisation) and output, fed a precomputed scaled Laplacian instead
    of an edge index.

    .. math::
        \mathbf{X}' = \sum_{k=0}^{K-1} \mathbf{Z}^{(k)} \mathbf{\Theta}^{(k)} + \mathbf{b},
        \quad \mathbf{Z}^{(0)} = \mathbf{X},\ \mathbf{Z}^{(1)} = \hat{\mathbf{L}}\mathbf{X},\
        \mathbf{Z}^{(k)} = 2\hat{\mathbf{L}}\mathbf{Z}^{(k-1)} - \mathbf{Z}^{(k-2)}

    with :math:`\hat{\mathbf{L}} = \mathbf{L}_{\mathrm{sym}} - \mathbf{I} =
    -\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` (``normalization="sym"``,
    :math:`\lambda_{\max} = 2`), built once per graph by
    :func:`nmc.pointcloud.msgat.graph.scaled_laplacian`. PyG's message passing scatters
    every edge message; one CSR product per hop is about 5x faster on CPU, and the
    Laplacian is shared by every layer on the same graph. Plain torch: decoding does not
    import PyG (≈ 1.7 s of every ``nmc decode``); the equivalence with PyG is a test.

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
        super().__init__()
        if K < 1:
            raise ValueError(f"K={K} must be >= 1")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lins = torch.nn.ModuleList(
            glorot_linear(in_channels, out_channels, bias=False) for _ in range(K)
        )
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins:
            reset_glorot_linear(lin)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, laplacian: Tensor) -> Tensor:
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

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"K={len(self.lins)}, normalization=sym)"
        )
