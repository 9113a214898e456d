"""Multi-resolution latent grids: their shapes, their upsampling to the frame, their decode order.

A frame's latents are ``L`` single-channel integer grids; level ``l`` is
``ceil(H2 / 2^l) x ceil(W2 / 2^l)`` where ``H2 x W2`` is the luma size rounded up to even
(the 4:2:0 chroma grid times two). Level 0 carries the finest detail, the last level the
coarsest. Every level is upsampled to ``H2 x W2`` by a fixed bicubic filter, giving the
synthesis an ``[L, H2, W2]`` input.

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
