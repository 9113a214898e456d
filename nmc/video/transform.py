"""P-frame transform residual: what the prediction still misses, as quantized DCT coefficients.

A P frame's latent residual is rendered per pixel by the synthesis, so it pays for every
corrected pixel; the error a motion-compensated prediction leaves is smooth inside blocks,
which a block transform compacts into a few coefficients (docs/video.md § P frames). This
module is that path, pixel-domain as in classical codecs:

* luma in 8x8 blocks, Cb and Cr in 4x4 blocks (the same block grid: one 8x8 luma block and
  the two 4x4 chroma blocks of its 4:2:0 area), orthonormal DCT-II, samples in 8-bit units;
* one uniform quantizer step per frame, ``2 ** (index / 6)`` (six steps per octave, as HEVC's
  QP), levels ``round_toward_zero(|c| / step + offset)`` with a dead zone;
* per block, a rate-distortion decision: a block whose coefficients do not remove more
  error than ``lambda`` times their estimated bits is left out (its coded-block flag is 0).

The decoder adds ``inverse(levels * step)`` to the prediction in float64 and casts it to the
frame's float32; the encoder measures exactly that (nmc.video.inter). Coding the levels is
:mod:`nmc.video.coefficient_coder`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

LUMA_BLOCK, CHROMA_BLOCK = 8, 4
BLOCK_SIDES = (LUMA_BLOCK, CHROMA_BLOCK, CHROMA_BLOCK)
"""Transform block side of each plane: Y, Cb, Cr."""
MAX_STEP_INDEX = 63
MAX_LEVEL = 4095
DEAD_ZONE = 1.0 / 3.0
"""Rounding offset of the quantizer (0.5 would be plain rounding)."""
_SCALE = 255.0


@dataclass(frozen=True)
class TransformResidual:
    """A frame's quantized coefficients: the step index and, per plane (Y, Cb, Cr), int64
    levels ``[rows, cols, n, n]`` (``n`` from :data:`BLOCK_SIDES`; ``rows x cols`` the block
    grid of :func:`block_grid`)."""

    step_index: int
    levels: tuple[np.ndarray, np.ndarray, np.ndarray]

    @property
    def empty(self) -> bool:
        """True when no level is non-zero (the frame codes no transform residual)."""
        return not any(plane.any() for plane in self.levels)


def step_size(index: int) -> float:
    """Quantizer step (8-bit sample units, orthonormal coefficients) of step ``index``."""
    return 2.0 ** (index / 6.0)


def block_grid(hc: int, wc: int) -> tuple[int, int]:
    """Rows and columns of transform blocks of a frame whose chroma planes are ``hc x wc``."""
    return -(-hc // CHROMA_BLOCK), -(-wc // CHROMA_BLOCK)


@functools.cache
def dct_matrix(n: int) -> torch.Tensor:
    """float64 ``[n, n]`` orthonormal DCT-II: row ``k`` is the ``k``-th basis vector."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def to_planes(frame: torch.Tensor) -> list[torch.Tensor]:
    """``[6, Hc, Wc]`` frame (or error, or weights) -> float64 planes ``[2Hc, 2Wc]``,
    ``[Hc, Wc]``, ``[Hc, Wc]`` (luma from the pixel-shuffled channels 0-3)."""
    frame = frame.detach().to(torch.float64)
    luma = F.pixel_shuffle(frame[None, :4], 2)[0, 0]
    return [luma, frame[4], frame[5]]


def from_planes(planes: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`to_planes`: ``[6, Hc, Wc]``."""
    luma = F.pixel_unshuffle(planes[0][None, None], 2)[0]
    return torch.cat([luma, planes[1][None], planes[2][None]])


def forward(plane: torch.Tensor, n: int, rows: int, cols: int) -> torch.Tensor:
    """float64 ``[H, W]`` plane, zero-padded to ``rows*n x cols*n`` -> coefficients
    ``[rows, cols, n, n]``."""
    padded = F.pad(plane, (0, cols * n - plane.shape[1], 0, rows * n - plane.shape[0]))
    blocks = padded.reshape(rows, n, cols, n).permute(0, 2, 1, 3)
    matrix = dct_matrix(n)
    return matrix @ blocks @ matrix.T


def inverse(coefficients: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Coefficients ``[rows, cols, n, n]`` -> float64 plane ``[height, width]`` (cropped)."""
    rows, cols, n, _ = coefficients.shape
    matrix = dct_matrix(n)
    blocks = matrix.T @ coefficients @ matrix
    return blocks.permute(0, 2, 1, 3).reshape(rows * n, cols * n)[:height, :width]


def render(residual: TransformResidual, hc: int, wc: int) -> torch.Tensor:
    """What ``residual`` adds to a frame: float32 ``[6, hc, wc]`` (``value / 255`` units)."""
    step = step_size(residual.step_index)
    sizes = [(2 * hc, 2 * wc), (hc, wc), (hc, wc)]
    planes = [
        inverse(torch.from_numpy(levels).to(torch.float64) * step, *size) / _SCALE
        for levels, size in zip(residual.levels, sizes)
    ]
    return from_planes(planes).to(torch.float32)


def estimated_bits(levels: torch.Tensor) -> torch.Tensor:
    """A quick estimate of the bits of each block's levels (int64 ``[rows, cols, n, n]``):
    ``[rows, cols]``. Per non-zero level a significance flag, a sign and an Exp-Golomb-like
    magnitude; per block its flag and its zeros. The encoder's exact decision is the frame's
    coded cost; this only ranks blocks."""
    magnitude = levels.abs().to(torch.float64)
    nonzero = magnitude > 0
    per_level = torch.where(nonzero, 5.0 + 2.0 * torch.log2(magnitude.clamp_min(1.0)), 0.0)
    n = levels.shape[-1]
    return 2.0 + 0.03 * n * n + per_level.sum(dim=(-1, -2))


def quantize(
    error: torch.Tensor, weights: torch.Tensor, lam: float, step_index: int
) -> TransformResidual:
    """The transform residual of ``error`` (target minus prediction, ``[6, Hc, Wc]``,
    ``value / 255`` units) at ``step_index``, with every block that does not pay for its
    estimated bits dropped.

    ``weights`` (``[6, Hc, Wc]``, :func:`nmc.video.planes.loss_weights`) weigh the error as the
    codec's loss does (zero outside an odd-sized frame); ``lam`` is the loss's rate weight per
    bit per frame pixel (luma pixels, ``H * W`` = the weights' inside count).
    """
    _, hc, wc = error.shape
    rows, cols = block_grid(hc, wc)
    step = step_size(step_index)
    pixels = float((weights[:4] > 0).sum())
    levels = []
    for plane, weight, n in zip(to_planes(error), to_planes(weights), BLOCK_SIDES):
        inside = weight > 0
        coefficients = forward(torch.where(inside, plane * _SCALE, 0.0), n, rows, cols)
        magnitude = torch.floor(coefficients.abs() / step + DEAD_ZONE).clamp(max=MAX_LEVEL)
        quantized = torch.sign(coefficients) * magnitude
        removed = (coefficients**2 - (coefficients - quantized * step) ** 2).sum(dim=(-1, -2))
        per_sample = float(weight.max()) / _SCALE**2  # loss weight of one squared 8-bit error
        pays = per_sample * removed > lam * estimated_bits(quantized) / pixels
        quantized = quantized * pays[..., None, None]
        levels.append(quantized.to(torch.int64).numpy())
    return TransformResidual(step_index, tuple(levels))


def start_index(lam: float, weights: torch.Tensor) -> int:
    """The step index the encoder tries first: HEVC's relation ``lambda = 0.09 step**2``
    (SSE of 8-bit samples per bit), with lambda converted from the codec's luma loss."""
    pixels = float((weights[:4] > 0).sum())
    per_sample = float(weights[:4].max()) / _SCALE**2
    lam_sse = lam / pixels / per_sample
    index = round(6.0 * math.log2(math.sqrt(lam_sse / 0.09)))
    return min(max(index, 0), MAX_STEP_INDEX)
