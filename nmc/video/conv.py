"""NeRV-like convolutional generator: a small learned latent grid upsampled to six 4:2:0 samples.

.. math::
    x_0 = z, \\quad
    x_{k+1} = \\mathrm{GELU}(\\mathrm{PixelShuffle}_2(\\mathrm{Conv}_{3\\times 3}(x_k))), \\quad
    f = \\mathrm{Conv}_{3\\times 3}(x_K)

``z`` ``[1, C_0, ceil(Hc / 2^K), ceil(Wc / 2^K)]`` is a learned tensor (NeRV's frame embedding
made spatial); each block doubles the resolution; the head ends on the chroma grid, cropped to
``Hc x Wc``. The latent and the first block are the "first" update group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nmc.media import chroma_size
from nmc.video.layers import Conv3x3


@dataclass(frozen=True)
class ConvArch:
    """Shape of a :class:`ConvGenerator` (all the decoder needs to rebuild it).

    Args:
        latent_channels: channels ``C_0`` of the learned input grid.
        channels: output channels of each upsampling block (``K`` blocks: ``2^K`` upsampling).
    """

    latent_channels: int = 8
    channels: tuple[int, ...] = (16, 12, 8)

    def fields(self) -> tuple[int, ...]:
        return (self.latent_channels, *self.channels)


class ConvGenerator(nn.Module):
    """Convolutional generator that represents one ``height x width`` frame.

    Parameters are created uninitialized (the decoder loads them); the encoder calls
    :meth:`initialize`. Names: ``latent``, ``blocks.{k}.weight`` / ``.bias``, ``head.weight`` /
    ``head.bias``.
    """

    def __init__(self, arch: ConvArch, height: int, width: int) -> None:
        super().__init__()
        self.arch, self.height, self.width = arch, height, width
        hc, wc = chroma_size(height, width)
        factor = 1 << len(arch.channels)
        grid = (math.ceil(hc / factor), math.ceil(wc / factor))
        self.latent = nn.Parameter(torch.empty(1, arch.latent_channels, *grid))
        sizes = (arch.latent_channels, *arch.channels)
        self.blocks = nn.ModuleList(Conv3x3(a, 4 * b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = Conv3x3(sizes[-1], 6)

    def initialize(self, generator: torch.Generator) -> None:
        """Random start for fitting: unit-normal latent, convolutions uniform in
        ``±1/sqrt(fan_in)`` (PyTorch's Conv2d default), zero output bias."""
        with torch.no_grad():
            self.latent.copy_(torch.randn(self.latent.shape, generator=generator))
            for conv in [*self.blocks, self.head]:
                conv.initialize(generator)
            self.head.bias.zero_()

    def forward(self) -> torch.Tensor:
        """Render float32 ``[6, Hc, Wc]`` at the native size."""
        x = self.latent
        for block in self.blocks:
            x = F.gelu(F.pixel_shuffle(block(x), 2))
        hc, wc = chroma_size(self.height, self.width)
        return self.head(x)[0, :, :hc, :wc]

    def groups(self) -> dict[str, list[str]]:
        """Names of the parameters in the ``first`` and ``last`` update groups."""
        return {
            "first": ["latent", "blocks.0.weight", "blocks.0.bias"],
            "last": ["head.weight", "head.bias"],
        }
