"""Coordinate MLP: chroma-grid coordinates -> Fourier features -> MLP -> six 4:2:0 samples.

.. math::
    \\gamma(p) = [\\sin(\\pi B p), \\cos(\\pi B p)], \\quad
    f(p) = W_D \\, \\phi(\\cdots \\phi(W_1 \\gamma(p) + b_1) \\cdots) + b_D

``p`` is a chroma-sample centre in frame-normalized coordinates (the longer side spans
``[-1, 1]``), ``B`` ``[F, 2]`` is a *learned* frequency matrix and ``phi`` is GELU. ``B`` and
``W_1`` form the coordinate mapping that P frames update by default (DESIGN.md § 6). Because
``f`` is a function of continuous coordinates, :meth:`CoordinateMlp.forward` renders any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nmc.media import chroma_size
from nmc.video.layers import Affine


@dataclass(frozen=True)
class MlpArch:
    """Shape of a :class:`CoordinateMlp` (all the decoder needs to rebuild it).

    Args:
        frequencies: rows ``F`` of the frequency matrix ``B`` (``2F`` features).
        width: hidden units per layer.
        depth: hidden layers (each ``Linear + GELU``).
    """

    frequencies: int = 96
    width: int = 48
    depth: int = 3

    def fields(self) -> tuple[int, ...]:
        return (self.frequencies, self.width, self.depth)


def chroma_coordinates(height: int, width: int, out_height: int, out_width: int) -> torch.Tensor:
    """float32 ``[Hc' * Wc', 2]`` (x, y) centres of the chroma grid of an ``out_height x
    out_width`` rendering of a ``height x width`` frame, in the frame's normalized coordinates."""
    hc, wc = chroma_size(out_height, out_width)
    half = max(height, width) / 2.0
    # Chroma sample j is centred on luma position 2j + 1 at the output scale.
    ys = (torch.arange(hc, dtype=torch.float64) * 2 + 1) * (height / out_height) - height / 2.0
    xs = (torch.arange(wc, dtype=torch.float64) * 2 + 1) * (width / out_width) - width / 2.0
    grid_y, grid_x = torch.meshgrid(ys / half, xs / half, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2).float()


class CoordinateMlp(nn.Module):
    """Fourier-feature MLP that represents one ``height x width`` frame.

    Parameters are created uninitialized (the decoder loads them); the encoder calls
    :meth:`initialize`. Names: ``proj`` ``[F, 2]``, ``hidden.{i}.weight`` / ``.bias``,
    ``head.weight`` ``[6, width]``, ``head.bias`` ``[6]``.
    """

    def __init__(self, arch: MlpArch, height: int, width: int) -> None:
        super().__init__()
        self.arch, self.height, self.width = arch, height, width
        self.proj = nn.Parameter(torch.empty(arch.frequencies, 2))
        sizes = [2 * arch.frequencies] + [arch.width] * arch.depth
        self.hidden = nn.ModuleList(Affine(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = Affine(sizes[-1], 6)
        self.register_buffer(
            "coords", chroma_coordinates(height, width, height, width), persistent=False
        )

    def initialize(self, generator: torch.Generator, sigma: float = 8.0) -> None:
        """Random start for fitting: frequencies ``N(0, sigma^2)``, layers uniform in
        ``±1/sqrt(fan_in)`` (PyTorch's Linear default), zero output bias."""
        with torch.no_grad():
            self.proj.copy_(torch.randn(self.proj.shape, generator=generator) * sigma)
            for layer in [*self.hidden, self.head]:
                layer.initialize(generator)
            self.head.bias.zero_()

    def forward(self, out_height: int | None = None, out_width: int | None = None) -> torch.Tensor:
        """Render float32 ``[6, Hc, Wc]`` at the native size, or at ``out_height x out_width``."""
        size = (self.height, self.width) if out_height is None else (out_height, out_width)
        if size == (self.height, self.width):
            coords = self.coords
        else:
            coords = chroma_coordinates(self.height, self.width, *size).to(self.proj.device)
        angles = torch.pi * (coords @ self.proj.T)
        x = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        for layer in self.hidden:
            x = F.gelu(layer(x))
        return self.head(x).T.reshape(6, *chroma_size(*size))

    def groups(self) -> dict[str, list[str]]:
        """Names of the parameters in the ``first`` and ``last`` update groups."""
        return {
            "first": ["proj", "hidden.0.weight", "hidden.0.bias"],
            "last": ["head.weight", "head.bias"],
        }
