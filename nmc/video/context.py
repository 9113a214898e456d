"""The latents' entropy model: a tiny MLP that predicts each latent's Laplace law from context.

For a latent at position ``p`` of level ``l`` the context is 17 numbers: the 3x3 neighbourhood
of ``p`` in the next coarser level upsampled bilinearly to level ``l``'s grid (9 values), and
the 8 neighbours of ``p`` in level ``l`` itself, each multiplied by 1 if it is decoded before
``p`` (earlier phase, :mod:`nmc.video.latents`) and 0 otherwise. A *positional* model (video
header version 7) also sees where ``p`` is in the decode order: its phase (4 one-hot inputs)
and its level (one-hot over the frame's levels), so one model can give each level and phase
its own laws, and a neighbour that reads 0 because it is not decoded yet is no longer mistaken
for a decoded 0. The MLP maps the context to a mean ``mu`` and a scale ``b``:

.. math::
    (\\mu, \\log b) = W_3 \\, \\mathrm{ReLU}(W_2 \\, \\mathrm{ReLU}(W_1 c + b_1) + b_2) + b_3

and a latent ``y`` costs ``-log2 P(y)`` with ``P(y) = F(y + 1/2) - F(y - 1/2)``, ``F`` the
Laplace CDF of ``(mu, b)``. One pass evaluates every position of one phase of one level at
once (four passes per level), so the decoder never walks latents one at a time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nmc.video.latents import MAX_LATENT, NUM_PHASES, neighbour_visibility, phase_map

CONTEXT_SIZE = 17
_NEIGHBOURS = [0, 1, 2, 3, 5, 6, 7, 8]  # the 3x3 neighbourhood without its centre
MIN_SCALE, MAX_SCALE = 0.04, 40.0
_MIN_PROB = 2.0**-16
Laws = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ContextArch:
    """Hidden widths of the context MLP (``len(hidden)`` hidden layers), and whether it also
    takes each latent's decode phase and level as inputs (``positional``)."""

    hidden: tuple[int, ...] = (8, 8)
    positional: bool = False

    def fields(self) -> tuple[int, ...]:
        return self.hidden

    def inputs(self, levels: int) -> int:
        """Input size of the MLP for a frame of ``levels`` latent levels."""
        return CONTEXT_SIZE + (NUM_PHASES + levels if self.positional else 0)


class ContextModel(nn.Module):
    """Context MLP ``inputs -> hidden... -> 2`` (``inputs`` = 17, or 17 + 4 + ``levels`` for a
    positional model: the frame's level count is part of its shape, so callers always give it);
    parameters ``layers.{i}.weight`` / ``.bias``."""

    def __init__(self, arch: ContextArch, levels: int) -> None:
        super().__init__()
        self.arch = arch
        self.levels = levels
        sizes = (arch.inputs(levels), *arch.hidden, 2)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def initialize(self, generator: torch.Generator) -> None:
        """PyTorch's Linear default (uniform ``±1/sqrt(fan_in)``), last layer zero: every latent
        starts as Laplace(0, 1)."""
        with torch.no_grad():
            for layer in self.layers:
                bound = 1.0 / math.sqrt(layer.weight.shape[1])
                for p in (layer.weight, layer.bias):
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
            self.layers[-1].weight.zero_()
            self.layers[-1].bias.zero_()

    def forward(self, context: torch.Tensor) -> Laws:
        """``context`` float ``[inputs, N]`` (one column per latent: 2-3x faster than rows with
        gradients) -> ``(mu [N], b [N])``, ``b`` in ``[MIN_SCALE, MAX_SCALE]``, ``mu`` in
        ``[-MAX_LATENT, MAX_LATENT]``."""
        x = context
        for index, layer in enumerate(self.layers):
            x = torch.addmm(layer.bias[:, None], layer.weight, x)
            x = F.relu(x) if index + 1 < len(self.layers) else x
        mu = x[0].clamp(-MAX_LATENT, MAX_LATENT)
        scale = torch.exp(x[1].clamp(math.log(MIN_SCALE), math.log(MAX_SCALE)))
        return mu, scale


Visibility = Callable[[int, int], torch.Tensor]


def level_context(
    level: torch.Tensor,
    coarser: torch.Tensor | None,
    visibility: Visibility = neighbour_visibility,
) -> torch.Tensor:
    """Context of every position of a level: float ``[17, rows * cols]``.

    Args:
        level: float ``[rows, cols]`` latents of this level; positions not decoded yet may
            hold anything (they are masked by phase).
        coarser: float ``[ceil(rows/2), ceil(cols/2)]`` decoded latents of the next coarser
            level, or None for the coarsest level (its coarse context is 0).
        visibility: ``(rows, cols) -> [8, rows, cols]`` mask of the neighbours decoded before
            each position: the codec's four-phase order (default), or another order to
            measure what it would cost (:func:`raster_visibility`).
    """
    rows, cols = level.shape
    up = level.new_zeros(rows, cols) if coarser is None else _upsampled(coarser, (rows, cols))
    return _context(level, up, visibility(rows, cols).to(level).reshape(8, rows * cols))


def pass_positions(
    levels: int, level: int, phase: int, count: int, like: torch.Tensor
) -> torch.Tensor:
    """The positional inputs of ``count`` latents of one decode pass (``phase`` of ``level``):
    ``[4 + levels, count]``, one-hot phase then one-hot level, dtype and device of ``like``."""
    rows = like.new_zeros(NUM_PHASES + levels, count)
    rows[phase] = 1.0
    rows[NUM_PHASES + level] = 1.0
    return rows


def _upsampled(coarser: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The next coarser level bilinearly upsampled to a level's ``size``: ``[rows, cols]``."""
    up = F.interpolate(coarser[None, None], size=size, mode="bilinear", align_corners=False)
    return up[0, 0]


def _context(level: torch.Tensor, up: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``[17, rows * cols]``: the 3x3 neighbourhoods of ``up`` (the coarser level at this
    level's size) and the 8 neighbours of each position in ``level`` times ``visible``
    (``[8, rows * cols]``); zeros past the edges."""
    coarse = F.unfold(up[None, None], 3, padding=1)[0]
    same = F.unfold(level[None, None], 3, padding=1)[0, _NEIGHBOURS]
    return torch.cat([coarse, same * visible])


def laplace_bits(y: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits to code each ``y`` (float, integer-valued or noisy) under ``Laplace(mu, scale)``
    discretized to unit bins: ``-log2(F(y + 1/2) - F(y - 1/2))``, elementwise, floored at a
    probability of ``2^-16`` (the coder's precision)."""
    a = (y - mu).abs()
    inv = 1.0 / scale
    # Each branch sees only its own range of |a| so the unused one never overflows (a where()
    # over an inf branch would give NaN gradients).
    tail = a.clamp_min(0.5)  # |a| >= 1/2: the bin lies on one side of the mode
    log_tail = math.log(0.5) - (tail - 0.5) * inv + torch.log(-torch.expm1(-inv))
    near = a.clamp_max(0.5)  # |a| < 1/2: the bin holds the mode
    centre = 1.0 - 0.5 * torch.exp(-(0.5 - near) * inv) - 0.5 * torch.exp(-(0.5 + near) * inv)
    log_centre = torch.log(centre.clamp_min(_MIN_PROB))
    log_p = torch.where(a >= 0.5, log_tail, log_centre)
    return -log_p.clamp_min(math.log(_MIN_PROB)) / math.log(2.0)


def raster_visibility(rows: int, cols: int) -> torch.Tensor:
    """float32 ``[8, rows, cols]``: the neighbours a raster-order (one latent at a time) decoder
    would have seen: up-left, up, up-right and left."""
    visible = torch.zeros(8, rows, cols)
    visible[:4] = 1.0
    return visible


def latent_bits(
    model: Callable[[torch.Tensor], Laws],
    latents: list[torch.Tensor],
    visibility: Visibility = neighbour_visibility,
    positional: bool = False,
) -> torch.Tensor:
    """Total bits (0-d tensor) of all levels (finest first) under ``model`` (a
    :class:`ContextModel` or a function with its signature; ``positional``: it also takes each
    latent's phase and level, :class:`ContextArch`), all phases at once (the masks make each
    position see exactly what the decoder will have).

    Equal to summing the bits of :func:`level_context` level by level, computed on one canvas
    that holds every level (:class:`LevelCanvas`): a fit spends its time on the number of
    operations, not on their size, and this takes one context pass instead of one per level.
    """
    canvas = LevelCanvas.of(tuple(tuple(level.shape) for level in latents), visibility)
    device = latents[0].device
    same = latents[0].new_zeros(canvas.rows, canvas.cols)
    coarse = latents[0].new_zeros(canvas.rows, canvas.cols)
    for index, (level, (top, left)) in enumerate(zip(latents, canvas.origins)):
        rows, cols = level.shape
        same[top : top + rows, left : left + cols] = level
        if index + 1 < len(latents):
            coarse[top : top + rows, left : left + cols] = _upsampled(
                latents[index + 1], (rows, cols)
            )
    context = _context(same, coarse, canvas.visible.to(device))
    if positional:
        context = torch.cat([context, canvas.positions.to(context)])
    mu, scale = model(context)
    return (laplace_bits(same.reshape(-1), mu, scale) * canvas.used.to(device)).sum()


@dataclass(frozen=True)
class LevelCanvas:
    """All latent levels on one zero-separated grid: level 0 at the top left, the coarser ones
    stacked in a column to its right, one zero row / column between any two (so a 3x3
    neighbourhood reads zeros past a level's edge, as the decoder's padding does).

    Attributes:
        rows, cols: canvas size; origins: ``(top, left)`` of each level, finest first.
        used: float32 ``[rows * cols]``, 1 on latents, 0 in the gaps.
        visible: float32 ``[8, rows * cols]``, each latent's visibility mask.
        positions: float32 ``[4 + levels, rows * cols]``, each latent's one-hot decode phase
            and level (:func:`pass_positions`), 0 in the gaps.
    """

    rows: int
    cols: int
    origins: tuple[tuple[int, int], ...]
    used: torch.Tensor
    visible: torch.Tensor
    positions: torch.Tensor

    @staticmethod
    @functools.lru_cache(maxsize=32)
    def of(shapes: tuple[tuple[int, int], ...], visibility: Visibility) -> LevelCanvas:
        """The canvas of levels of ``shapes`` (finest first) and decode order ``visibility``.
        Cached: do not modify its tensors."""
        origins, top = [(0, 0)], 0
        for rows, _ in shapes[1:]:
            origins.append((top, shapes[0][1] + 1))
            top += rows + 1
        height = max(shapes[0][0], top - 1)
        width = shapes[0][1] + (shapes[1][1] + 1 if len(shapes) > 1 else 0)
        used = torch.zeros(height, width)
        visible = torch.zeros(8, height, width)
        positions = torch.zeros(NUM_PHASES + len(shapes), height, width)
        for level, ((rows, cols), (r, c)) in enumerate(zip(shapes, origins)):
            used[r : r + rows, c : c + cols] = 1.0
            visible[:, r : r + rows, c : c + cols] = visibility(rows, cols)
            positions[:NUM_PHASES, r : r + rows, c : c + cols] = F.one_hot(
                phase_map(rows, cols), NUM_PHASES
            ).permute(2, 0, 1)
            positions[NUM_PHASES + level, r : r + rows, c : c + cols] = 1.0
        return LevelCanvas(
            height, width, tuple(origins), used.reshape(-1), visible.reshape(8, -1),
            positions.reshape(len(positions), -1),
        )  # fmt: skip
