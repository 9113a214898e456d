"""Multi-resolution latent grids: their shapes, their upsampling to the frame, their decode order.

A frame's latents are ``L`` single-channel integer grids; level ``l`` is
``ceil(H2 / 2^l) x ceil(W2 / 2^l)`` where ``H2 x W2`` is the luma size rounded up to even
(the 4:2:0 chroma grid times two). Level 0 carries the finest detail, the last level the
coarsest. Every level is upsampled to ``H2 x W2``, giving the synthesis an ``[L, H2, W2]``
input: by successive 2x upsamplings with learned kernels (:func:`learned_upsample`, header
version 8), or by one fixed bicubic filter per level (:func:`upsample_levels`, versions 6-7).

Decode order: coarsest level first; inside a level, four phases of a 2x2 pattern,
``(0, 0)``, ``(1, 1)``, ``(0, 1)``, ``(1, 0)`` (row parity, column parity), each decoded in one
parallel pass that sees the coarser levels and the earlier phases of its own level.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from nmc.media import chroma_size

# Phase of each (row parity, column parity) in decode order.
_PHASE_OF = ((0, 2), (3, 1))
NUM_PHASES = 4
MAX_LEVELS = 10
# Latents are integers in [-MAX_LATENT, MAX_LATENT] (the coder's alphabet is sized for it).
MAX_LATENT = 31


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """``(rows, cols)`` of each latent level, finest (level 0) first."""
    hc, wc = chroma_size(height, width)
    rows, cols = 2 * hc, 2 * wc
    shapes = []
    for _ in range(levels):
        shapes.append((rows, cols))
        rows, cols = -(-rows // 2), -(-cols // 2)
    return shapes


def upsample_levels(latents: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Stack the levels, each bicubically upsampled to ``size``: float ``[1, L, *size]``.

    ``latents``: float ``[h_l, w_l]`` grids, finest first. Levels already at ``size`` are
    used as they are. The upsampling is torch's bicubic interpolation (``align_corners=False``,
    borders clamped) written as its two separable matrices, ``A_rows @ grid @ A_cols^T``: the
    same values up to float rounding, and 3x faster than ``F.interpolate`` with gradients.
    """
    planes = []
    for grid in latents:
        if tuple(grid.shape) != size:
            rows = bicubic_matrix(grid.shape[0], size[0]).to(grid)
            cols = bicubic_matrix(grid.shape[1], size[1]).to(grid)
            grid = rows @ grid @ cols.T
        planes.append(grid)
    return torch.stack(planes)[None]


def bicubic_kernel(taps: int) -> torch.Tensor:
    """float32 ``[taps]``: the learned 2x upsampling kernel that equals torch's bicubic one
    (``a = -0.75``), zero-padded to ``taps`` (even, >= 4) taps; tap ``j`` sits at offset
    ``j - taps // 2 + 1`` (see :func:`upsample_2x_matrix`)."""
    kernel = torch.zeros(taps)
    kernel[taps // 2 - 2 : taps // 2 + 2] = torch.tensor(
        [-0.10546875, 0.87890625, 0.26171875, -0.03515625]
    )
    return kernel


@functools.lru_cache(maxsize=64)
def _taps_of_2x(taps: int, length: int, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """int64 ``([target * taps], [target * taps])``: for every tap of every output sample of a
    2x upsampling, its flat position ``output * length + input`` in the ``[target, length]``
    matrix and its tap index.

    Output ``2i + 1`` reads inputs ``i + o_j`` and output ``2i`` reads ``i - o_j`` (``o_j =
    j - taps // 2 + 1``, indices clamped to the signal): the two phases of a 2x upsampling are
    mirror images, as in the bicubic filter. Cached: do not modify."""
    outputs = torch.arange(target)[:, None]
    offsets = torch.arange(taps)[None, :] - taps // 2 + 1
    sign = torch.where(outputs % 2 == 1, 1, -1)
    sources = (outputs // 2 + sign * offsets).clamp(0, length - 1)
    return (outputs * length + sources).reshape(-1), torch.arange(taps).repeat(target)


def upsample_2x_matrix(kernel: torch.Tensor, length: int, target: int) -> torch.Tensor:
    """``[target, length]`` (``target`` in ``{2 length - 1, 2 length}``): the 2x upsampling by
    ``kernel`` ``[taps]`` as a matrix, differentiable in ``kernel`` (taps that land on the same
    clamped input add up)."""
    flat, tap = _taps_of_2x(kernel.numel(), length, target)
    matrix = kernel.new_zeros(target * length).index_add(0, flat.to(kernel.device), kernel[tap])
    return matrix.view(target, length)


def learned_upsample(latents: list[torch.Tensor], kernels: torch.Tensor) -> torch.Tensor:
    """Stack the levels, each brought to level 0's size by successive 2x upsamplings:
    float ``[1, L, H2, W2]``. ``kernels`` ``[L - 1, taps]``: row ``s - 1`` upsamples level
    ``s``'s size to level ``s - 1``'s, shared by every level that passes through it."""
    sizes = [tuple(g.shape) for g in latents]
    planes = [latents[0]]
    rows = cols = None
    for level in range(1, len(latents)):
        stage_rows = upsample_2x_matrix(kernels[level - 1], sizes[level][0], sizes[level - 1][0])
        stage_cols = upsample_2x_matrix(kernels[level - 1], sizes[level][1], sizes[level - 1][1])
        rows = stage_rows if rows is None else rows @ stage_rows
        cols = stage_cols if cols is None else cols @ stage_cols
        planes.append(rows @ latents[level] @ cols.T)
    return torch.stack(planes)[None]


@functools.lru_cache(maxsize=64)
def bicubic_matrix(length: int, target: int) -> torch.Tensor:
    """float32 ``[target, length]``: torch's bicubic upsampling of a length-``length`` signal
    to ``target`` samples as a matrix (interpolating the identity). Cached: do not modify."""
    eye = torch.eye(length)[None, :, :, None]  # [1, length (signals), length, 1]
    return F.interpolate(eye, size=(target, 1), mode="bicubic", align_corners=False)[0, :, :, 0].T


def phase_map(rows: int, cols: int) -> torch.Tensor:
    """int64 ``[rows, cols]``: the decode phase (0..3) of every position of a level."""
    r = torch.arange(rows)[:, None] % 2
    c = torch.arange(cols)[None, :] % 2
    table = torch.tensor(_PHASE_OF)
    return table[r, c]


@functools.lru_cache(maxsize=64)
def neighbour_visibility(rows: int, cols: int) -> torch.Tensor:
    """float32 ``[8, rows, cols]``: 1 where the 3x3 neighbour (row-major, centre skipped) of a
    position is decoded before it (earlier phase of the same level), else 0.

    Neighbours outside the grid read as 0 through zero padding, so their visibility is moot.
    Cached per size: callers must not modify the result.
    """
    phases = F.pad(phase_map(rows, cols)[None, None].float(), (1, 1, 1, 1), value=-1.0)
    own = phases[0, 0, 1:-1, 1:-1]
    out = []
    for dr in range(3):
        for dc in range(3):
            if (dr, dc) == (1, 1):
                continue
            other = phases[0, 0, dr : dr + rows, dc : dc + cols]
            out.append((other < own).float())
    return torch.stack(out)
