"""Synthesis networks: upsampled latents ``[1, L, H2, W2]`` -> the frame's 4:2:0 samples.

Each latent level is first brought to the frame's size (:func:`synthesis_input`): by
successive 2x upsamplings with learned kernels (``upsample`` taps per kernel, one kernel per 2x
stage, shared by the levels that pass through it: :func:`nmc.video.latents.learned_upsample`;
header version 8), or, in the shapes of streams up to version 7 (``upsample`` 0), by one fixed
bicubic upsampling per level. The kernels are the synthesis's parameter ``upsample`` (coded and
stepped with its other weights), read from its state by :func:`synthesis_input`.

Both families start with a per-pixel MLP (1x1 convolutions, ReLU) to three full-resolution
planes (Y, Cb, Cr); the ``conv`` family then refines them with linear residual 3x3
convolutions (``x <- x + Conv3x3(x)``), which let neighbouring pixels correct each other
(deblocking, sharpening) for 84 weights each. The output is laid out on the chroma grid
(:mod:`nmc.video.planes`): luma by pixel-unshuffle, chroma as the 2x2 mean of the Cb / Cr planes.

Cost per luma pixel: ``sum(fan_in * fan_out)`` of the 1x1 layers plus 81 per refine layer
(the default conv synthesis 7 -> 8 -> 3 with one refine layer: 161 multiplications).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nmc.video.latents import bicubic_kernel, learned_upsample, upsample_levels

UPSAMPLE_TAPS = (0, 4, 6, 8, 10, 12, 14, 16)
"""The kernel sizes a header may name (0: fixed bicubic upsampling)."""


@dataclass(frozen=True)
class SynthesisArch:
    """Shape of a :class:`Synthesis`.

    Args:
        hidden: widths of the hidden 1x1 layers.
        refine: number of residual 3x3 layers on the three output planes (``conv`` family > 0,
            ``mlp`` family 0).
        upsample: taps of the learned 2x upsampling kernels (even, 4..16), or 0 for the fixed
            bicubic upsampling of streams up to header version 7.
    """

    hidden: tuple[int, ...] = (8,)
    refine: int = 1
    upsample: int = 0

    def fields(self) -> tuple[int, ...]:
        return (self.refine, *self.hidden)

    def macs_per_pixel(self, levels: int) -> int:
        """Multiplications per luma pixel."""
        sizes = (levels, *self.hidden, 3)
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + 81 * self.refine


class Synthesis(nn.Module):
    """Parameters: ``mlp.{i}.weight`` ``[out, in, 1, 1]`` / ``.bias``, ``refine.{k}.weight``
    ``[3, 3, 3, 3]`` / ``.bias``, ``upsample`` ``[L - 1, taps]`` (with learned upsampling)."""

    def __init__(self, arch: SynthesisArch, levels: int) -> None:
        super().__init__()
        self.arch = arch
        sizes = (levels, *arch.hidden, 3)
        self.mlp = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(sizes[:-1], sizes[1:]))
        self.refine = nn.ModuleList(nn.Conv2d(3, 3, 3, padding=1) for _ in range(arch.refine))
        if arch.upsample:
            self.upsample = nn.Parameter(torch.empty(levels - 1, arch.upsample))

    def initialize(self, generator: torch.Generator) -> None:
        """1x1 layers uniform in ``±1/sqrt(fan_in)``, output bias 0; refine layers 0 (identity);
        upsampling kernels bicubic."""
        with torch.no_grad():
            for layer in self.mlp:
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                for p in (layer.weight, layer.bias):
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
            self.mlp[-1].bias.zero_()
            for layer in self.refine:
                layer.weight.zero_()
                layer.bias.zero_()
            if self.arch.upsample:
                self.upsample.copy_(bicubic_kernel(self.arch.upsample).expand_as(self.upsample))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` ``[1, L, H2, W2]`` (even sizes; :func:`synthesis_input`) -> float32
        ``[6, H2/2, W2/2]``."""
        x = features
        for layer in self.mlp[:-1]:
            x = F.relu(layer(x))
        x = self.mlp[-1](x)
        for layer in self.refine:  # channels-last: 4x faster with gradients on 3 channels
            x = x + layer(x.contiguous(memory_format=torch.channels_last))
        luma = F.pixel_unshuffle(x[:, :1], 2)
        chroma = F.avg_pool2d(x[:, 1:], 2)
        return torch.cat([luma, chroma], dim=1)[0]


def synthesis_input(
    arch: SynthesisArch, latents: list[torch.Tensor], weights: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """The synthesis's input ``[1, L, H2, W2]``: each of ``latents`` (``[h_l, w_l]``, finest
    first, level 0 ``H2 x W2``) upsampled to level 0's size, by the learned kernels
    ``weights["upsample"]`` (a synthesis state, named as the module names its parameters) or,
    where ``arch.upsample`` is 0, by the fixed bicubic filter."""
    if arch.upsample:
        return learned_upsample(latents, weights["upsample"])
    return upsample_levels(latents, tuple(latents[0].shape))
