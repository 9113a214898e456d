"""PyG's GATv2Conv on a fixed-degree (kNN) graph, as dense tensor products (fast on CPU)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from nmc.pointcloud.msgat.layers.init import glorot_, glorot_linear, reset_glorot_linear


class KNNGATv2Conv(torch.nn.Module):
    r"""The GATv2 operator of :class:`torch_geometric.nn.GATv2Conv` (Brody et al., 2022,
    `"How Attentive are Graph Attention Networks?" <https://arxiv.org/abs/2105.14491>`_)
    with its defaults (self loops, concatenated heads, slope 0.2, no dropout), the same
    parameters (names, shapes, initialisation) and output, for graphs in which every node
    has the same number k of in-neighbours, given as a ``[N, k]`` table.

    .. math::
        \mathbf{x}'_i = \big\Vert_{m=1}^{M} \sum_{j \in \mathcal{N}(i) \cup \{i\}}
        \alpha^{m}_{ij} \mathbf{W}^{m}_{l} \mathbf{x}_j + \mathbf{b}, \qquad
        \alpha^{m}_{ij} = \operatorname{softmax}_j\Big(\mathbf{a}^{m\top}
        \mathrm{LeakyReLU}\big(\mathbf{W}^{m}_{r} \mathbf{x}_i + \mathbf{W}^{m}_{l}
        \mathbf{x}_j\big)\Big)

    PyG scatters every edge's message and softmax; with a fixed degree the neighbourhoods
    are one ``[N, k + 1]`` gather and the softmax a dense one over its second axis (about
    4x faster on CPU). A neighbour equal to the node itself is ignored, as PyG drops self
    loops before adding one per node.

    Args:
        in_channels (int): size of each input feature.
        out_channels (int): size of each head's output.
        heads (int): attention heads M (outputs concatenated: ``heads * out_channels``).

    Shapes:
        - **input:** features :math:`(N, F_{in})`, neighbours :math:`(N, k)` int64
        - **output:** features :math:`(N, M \cdot F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        width = heads * out_channels
        self.lin_l = glorot_linear(in_channels, width, bias=True)
        self.lin_r = glorot_linear(in_channels, width, bias=True)
        self.att = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = torch.nn.Parameter(torch.empty(width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_glorot_linear(self.lin_l)
        reset_glorot_linear(self.lin_r)
        glorot_(self.att)
        torch.nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, neighbors: Tensor) -> Tensor:
        num, heads, width = x.shape[0], self.heads, self.out_channels
        x_l = self.lin_l(x)  # [N, M * C]
        x_r = self.lin_r(x)
        node = torch.arange(num, device=x.device)
        source = torch.cat([neighbors, node[:, None]], dim=1)  # [N, k + 1], self loop last
        degree = source.shape[1]
        grad = torch.is_grad_enabled() and (x_l.requires_grad or x_r.requires_grad)
        # The edge tensor [N, k + 1, M * C] is the bulk of the work: updated in place, and
        # its per-head dot products with the attention vectors as one matrix product.
        edges = x_l.index_select(0, source.reshape(-1)).view(num, degree, heads * width)
        edges = edges + x_r[:, None] if grad else edges.add_(x_r[:, None])
        edges = F.leaky_relu(edges, 0.2) if grad else F.leaky_relu_(edges, 0.2)
        logits = (edges.view(num, degree, heads, width) * self.att).sum(dim=-1)
        if neighbors.shape[1]:
            loops = torch.cat([neighbors == node[:, None], node.new_zeros(num, 1, dtype=bool)], 1)
            logits = logits.masked_fill(loops[:, :, None], float("-inf"))
        alpha = torch.softmax(logits, dim=1)  # [N, k + 1, M]
        if grad:
            x_j = x_l.index_select(0, source.reshape(-1)).view(num, degree, heads, width)
            out = torch.einsum("nkm,nkmc->nmc", alpha, x_j).reshape(num, heads * width)
        else:
            out = self._aggregate(alpha, x_l.view(num, heads, width), source)
        return out + self.bias

    @staticmethod
    def _aggregate(alpha: Tensor, x_l: Tensor, source: Tensor) -> Tensor:
        """``sum_j alpha[i, j, m] x_l[source[i, j], m]`` as one CSR product per head (no
        ``[N, k + 1, M, C]`` gather; torch's CSR products have no gradient for the values,
        so only without autograd). Returns ``[N, M * C]``."""
        num, degree, heads = alpha.shape
        crow = torch.arange(0, num * degree + 1, degree, device=alpha.device)
        col = source.reshape(-1)
        out = x_l.new_empty(num, heads, x_l.shape[2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            for m in range(heads):
                weights = torch.sparse_csr_tensor(
                    crow, col, alpha[:, :, m].reshape(-1), size=(num, num)
                )
                out[:, m] = torch.sparse.mm(weights, x_l[:, m].contiguous())
        return out.view(num, -1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads})"
        )
