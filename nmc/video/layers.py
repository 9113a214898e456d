"""The two layers the networks are built from, with explicit, generator-driven initialization.

Parameters start uninitialized so that building a network never touches the global random
state: the decoder only loads weights, and an encoder run is reproducible from its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _FanInUniform(nn.Module):
    """A ``weight`` / ``bias`` pair, uniform in ``±1/sqrt(fan_in)`` at start (PyTorch's default)."""

    def __init__(self, weight_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.empty(weight_shape[0]))

    def initialize(self, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.weight[0].numel())
        with torch.no_grad():
            for p in (self.weight, self.bias):
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)


class Affine(_FanInUniform):
    """``x @ weight.T + bias``: ``x`` ``[N, fan_in]`` -> ``[N, fan_out]``."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__((fan_out, fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class Conv3x3(_FanInUniform):
    """3x3 convolution with zero padding 1: ``[1, C_in, h, w]`` -> ``[1, C_out, h, w]``."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__((channels_out, channels_in, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=1)
