"""The MS-GAT network: multi-scale Chebyshev features, artifact attention, residual colour."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmc.pointcloud.msgat.config import ModelConfig
from nmc.pointcloud.msgat.graph import PatchGraph
from nmc.pointcloud.msgat.layers import ArtifactAttention, ScaleBranch

# Steps below this (near-lossless coding) all look alike to the network.
STEP_FLOOR = 0.25


def step_feature(step: Tensor) -> Tensor:
    """Map quantization steps ``[N]`` (colour levels) to the network's ``[N, 1]`` input."""
    return torch.log2(step.clamp_min(STEP_FLOOR)).unsqueeze(1) / 8.0


class MSGAT(torch.nn.Module):
    """Multi-scale graph attention post-filter for decoded point-cloud colours.

    The decoded YCbCr colour, its local contrast (colour minus the normalised mean of its
    kNN neighbours) and the quantization step of every point are embedded, then
    one :class:`ScaleBranch` per scale (full patch, 1/2 and 1/4 farthest-point samples)
    extracts Chebyshev graph features that are interpolated back to every point and fused;
    an :class:`ArtifactAttention` layer refines them and a linear head predicts the colour
    residual. Its amplitude follows the step, ``exp(a_c log(step) + b_c)`` per channel c,
    and the head starts at zero, so an untrained model is the identity.

    Args:
        config: network shape.

    Shapes:
        - **input:** ycc :math:`(N, 3)` float Y, Cb, Cr in 0..255; step :math:`(N)` float
          (colour levels); a :class:`PatchGraph` over the N points
        - **output:** residual :math:`(N, 3)` float, colour levels, to add to ycc
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        width = config.channels
        self.embed = torch.nn.Linear(7, width)
        self.branches = torch.nn.ModuleList(
            ScaleBranch(width, config.cheb_k, config.cheb_layers) for _ in config.scales
        )
        self.fuse = torch.nn.Linear(width * len(config.scales), width)
        self.attention = ArtifactAttention(width, config.heads)
        self.head = torch.nn.Linear(width, 3)
        self.step_gain = torch.nn.Parameter(torch.empty(2, 3))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.embed.reset_parameters()
        for branch in self.branches:
            branch.reset_parameters()
        self.fuse.reset_parameters()
        self.attention.reset_parameters()
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.step_gain[0].fill_(0.5)
            self.step_gain[1].fill_(0.0)

    def forward(self, ycc: Tensor, step: Tensor, graph: PatchGraph) -> Tensor:
        return self.head_residual(self.features(ycc, step, graph), step)

    def features(self, ycc: Tensor, step: Tensor, graph: PatchGraph) -> Tensor:
        """Per-point features ``[N, channels]`` that the linear head maps to the residual.

        The head is linear, so blending features of overlapping patches and then applying
        the head equals blending residuals; the encoder refits the head on these features
        (content-adaptive filtering, :mod:`nmc.pointcloud.msgat.adapt`).
        """
        if len(graph.levels) != len(self.branches):
            raise ValueError(
                f"graph has {len(graph.levels)} levels, the model {len(self.branches)} scales"
            )
        q = step_feature(step)
        # Local contrast (colour minus its normalised neighbour mean, L_hat = -D^-1/2 A D^-1/2)
        # at a finer scale than the colour itself: artifacts live in these small differences.
        lap = graph.levels[0].laplacian
        contrast = ycc + torch.sparse.mm(lap, ycc) if lap.shape[0] > 1 else torch.zeros_like(ycc)
        inputs = torch.cat([(ycc - 128.0) / 128.0, contrast / 16.0, q], dim=1)
        x = F.leaky_relu(self.embed(inputs), 0.2)
        feats = [
            branch(x, level.laplacian, level.subset, level.upsample)
            for branch, level in zip(self.branches, graph.levels)
        ]
        x = x + F.leaky_relu(self.fuse(torch.cat(feats, dim=1)), 0.2)
        return self.attention(x, q, graph.levels[0].neighbors)

    def amplitude(self, step: Tensor) -> Tensor:
        """Per-channel residual scale ``[N, 3]``, ``exp(a_c log(step) + b_c)``."""
        log_step = torch.log(step.clamp_min(STEP_FLOOR)).unsqueeze(1)
        return torch.exp(self.step_gain[0] * log_step + self.step_gain[1])

    def head_residual(self, features: Tensor, step: Tensor) -> Tensor:
        """Colour residual ``[N, 3]`` (colour levels) of features ``[N, channels]``."""
        return self.head(features) * self.amplitude(step)
