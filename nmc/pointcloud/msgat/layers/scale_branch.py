"""One scale of the multi-scale feature extractor: subsample, convolve, upsample."""

from __future__ import annotations

import torch
from torch import Tensor

from nmc.pointcloud.msgat.layers.cheb_stage import ChebStage


class ScaleBranch(torch.nn.Module):
    r"""Chebyshev features at one scale of the cloud, brought back to every point.

    .. math::
        \mathbf{H}_s = \mathbf{U}_s \, \mathrm{ChebStage}\big(\mathbf{S}_s \mathbf{H},
        \mathcal{G}_s\big)

    where :math:`\mathbf{S}_s` selects the farthest-point-sampled subset of 1/s of the
    points, :math:`\mathcal{G}_s` is the kNN graph of that subset and :math:`\mathbf{U}_s`
    copies to every point the feature of its nearest sampled point (nearest-neighbour
    interpolation). At the full scale both are the identity.

    Args:
        channels (int): feature width, in and out.
        K (int): Chebyshev filter size.
        num_layers (int): ChebConv layers of the stage.

    Shapes:
        - **input:** features :math:`(N, C)`, sparse CSR Laplacian of the level
          :math:`(M_s, M_s)`,
          subset :math:`(M_s)` or ``None``, upsample :math:`(N)` or ``None``
        - **output:** features :math:`(N, C)`
    """

    def __init__(self, channels: int, K: int, num_layers: int) -> None:
        super().__init__()
        self.stage = ChebStage(channels, K, num_layers)

    def reset_parameters(self) -> None:
        self.stage.reset_parameters()

    def forward(
        self,
        x: Tensor,
        laplacian: Tensor,
        subset: Tensor | None = None,
        upsample: Tensor | None = None,
    ) -> Tensor:
        if subset is not None:
            x = x.index_select(0, subset)
        x = self.stage(x, laplacian)
        if upsample is not None:
            x = x.index_select(0, upsample)
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.stage!r})"
