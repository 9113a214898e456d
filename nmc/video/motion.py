"""Block motion: one vector per ``block x block`` luma block, overlapped block motion compensation.

Vectors are integers in quarter luma pixels (``[rows, cols, 2]``, x then y, where the block
grid is ``ceil(H2 / block) x ceil(W2 / block)``; the stream's header sets ``block``, one of
:data:`BLOCK_SIZES`). A frame on the chroma grid (``[6, Hc, Wc]``,
:mod:`nmc.video.planes`) is predicted by overlapped block motion compensation: every pixel
blends the four translations of the reference by the vectors of its four nearest block centres,
with bilinear weights, so a pan is one translation, and a block moving against its neighbours
keeps its edges sharp while the seams between blocks fade over one block. Interpolating the
*vectors* instead into a smooth field (version 3 streams) stretches the content between blocks
that move differently, and the residual pays for that: carphone, 10 frames, quality 3: 24.2
kbit @ 30.04 dB smooth field, 20.3 kbit @ 30.13 dB one translation per block, 18.1 kbit @
29.92 dB blended (docs/video.md). Each translation is bicubic sampling (luma with the field,
chroma with the field averaged over 2x2 pixels at half length; samples outside the frame
repeat the border). Bicubic rather than bilinear because the prediction chain re-samples every
frame: bilinear's low-pass blurs the reference a little more each frame, and the residual pays
to restore it (measured on carphone, 8 frames at quality 5: P-frame bits −9 % at equal PSNR).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK_SIZES = (8, 16, 32, 64)
QUARTER = 4.0
MAX_VECTOR = 4 * 64  # quarter pixels: +-64 pixels


def block_grid(height: int, width: int, block: int) -> tuple[int, int]:
    """``(rows, cols)`` of the grid of ``block``-pixel motion blocks of a ``height x width``
    frame (even-padded)."""
    rows, cols = height + height % 2, width + width % 2
    return -(-rows // block), -(-cols // block)


def _axis_blend(length: int, blocks: int, block: int, device: torch.device, dtype: torch.dtype):
    """Along one axis of ``length`` pixels cut in ``blocks`` blocks of ``block`` pixels: for
    each pixel the block whose centre is at or before it and the next one (int64 ``[length]``
    each, clamped to ``0..blocks-1``) and the next one's weight (``[length]``, linear in the
    distance between the two centres)."""
    position = (torch.arange(length, device=device, dtype=dtype) + 0.5 - block / 2) / block
    first = torch.floor(position)
    weight = position - first
    first = first.to(torch.int64)
    return first.clamp(0, blocks - 1), (first + 1).clamp(0, blocks - 1), weight


def blend_fields(
    vectors: torch.Tensor, size: tuple[int, int], block: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The four translations a pixel's prediction blends: ``(field [2, *size] in luma pixels,
    weight [*size])`` for the vectors (``[rows, cols, 2]``, quarter pixels, float) of the
    2x2 centres of ``block``-pixel blocks around each pixel; the weights are bilinear and sum
    to 1."""
    rows, cols = vectors.shape[:2]
    top, bottom, wy = _axis_blend(size[0], rows, block, vectors.device, vectors.dtype)
    left, right, wx = _axis_blend(size[1], cols, block, vectors.device, vectors.dtype)
    out = []
    for row, row_weight in ((top, 1 - wy), (bottom, wy)):
        for col, col_weight in ((left, 1 - wx), (right, wx)):
            field = vectors[row][:, col].permute(2, 0, 1) / QUARTER
            out.append((field, row_weight[:, None] * col_weight[None, :]))
    return out


def block_sums(values: torch.Tensor, block: int) -> torch.Tensor:
    """Sums of a chroma-grid map ``[Hc, Wc]`` over each motion block (``block / 2`` chroma
    cells, ``block`` luma pixels square): ``[rows, cols]`` of :func:`block_grid`."""
    hc, wc = values.shape
    rows, cols = block_grid(2 * hc, 2 * wc, block)
    cells = block // 2
    padded = F.pad(values, (0, cols * cells - wc, 0, rows * cells - hc))
    return F.avg_pool2d(padded[None, None], cells)[0, 0] * cells**2


def _sample(planes: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """Bicubic sampling of ``planes`` ``[1, C, h, w]`` at ``position + field`` (``[2, h, w]``
    in pixels), border padding."""
    _, _, h, w = planes.shape
    ys = torch.arange(h, dtype=planes.dtype, device=planes.device)
    xs = torch.arange(w, dtype=planes.dtype, device=planes.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    x = (gx + field[0] + 0.5) * (2.0 / w) - 1.0
    y = (gy + field[1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([x, y], dim=-1)[None]
    return F.grid_sample(planes, grid, mode="bicubic", padding_mode="border",
                         align_corners=False)  # fmt: skip


def warp(frame: torch.Tensor, vectors: torch.Tensor, block: int) -> torch.Tensor:
    """Motion-compensated prediction: ``frame`` ``[6, Hc, Wc]`` warped by the vectors of its
    ``block``-pixel blocks (quarter pixels, ``[rows, cols, 2]``), same layout — overlapped
    block motion compensation: each pixel blends the translations by the vectors of the four
    nearest block centres (:func:`blend_fields`); chroma takes the luma fields and weights
    averaged over 2x2 pixels, the fields at half length."""
    _, hc, wc = frame.shape
    vectors = vectors.to(frame.dtype)
    luma_planes, chroma_planes = F.pixel_shuffle(frame[None, :4], 2), frame[None, 4:]
    luma = chroma = 0.0
    for field, weight in blend_fields(vectors, (2 * hc, 2 * wc), block):
        luma = luma + weight * _sample(luma_planes, field)
        chroma_weight = F.avg_pool2d(weight[None, None], 2)[0, 0]
        chroma_field = F.avg_pool2d(field[None], 2)[0] / 2.0
        chroma = chroma + chroma_weight * _sample(chroma_planes, chroma_field)
    return torch.cat([F.pixel_unshuffle(luma, 2), chroma], dim=1)[0]


def _median_predictor(left, top, corner) -> torch.Tensor:
    """Component-wise median of three vectors."""
    stacked = torch.stack([left, top, corner])
    return stacked.sum(0) - stacked.max(0).values - stacked.min(0).values


def spatial_prediction(vectors: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """Each block's vector predicted from its causal neighbours in the same frame (raster
    order), int64 ``[rows, cols, 2]``: the median of left, top and top-right (top-left in the
    last column); the left one in the first row, the top one in the first column, and
    ``origin`` (``[2]``) for the first block. :func:`from_spatial_residual` inverts it."""
    rows, cols = vectors.shape[:2]
    prediction = torch.empty_like(vectors)
    prediction[0, 0] = origin
    prediction[0, 1:] = vectors[0, :-1]
    prediction[1:, 0] = vectors[:-1, 0]
    if rows > 1 and cols > 1:
        corner = torch.cat([vectors[:-1, 2:], vectors[:-1, -2:-1]], dim=1)
        prediction[1:, 1:] = _median_predictor(vectors[1:, :-1], vectors[:-1, 1:], corner)
    return prediction


def from_spatial_residual(residual: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """The vectors whose :func:`spatial_prediction` residual is ``residual`` (int64
    ``[rows, cols, 2]``), rebuilt block by block in raster order."""
    rows, cols = residual.shape[:2]
    vectors = torch.empty_like(residual)
    for r in range(rows):
        for c in range(cols):
            if r == 0:
                guess = origin if c == 0 else vectors[0, c - 1]
            elif c == 0:
                guess = vectors[r - 1, 0]
            else:
                corner = vectors[r - 1, c + 1] if c + 1 < cols else vectors[r - 1, c - 1]
                guess = _median_predictor(vectors[r, c - 1], vectors[r - 1, c], corner)
            vectors[r, c] = residual[r, c] + guess
    return vectors


def _vector_bits(step: torch.Tensor) -> torch.Tensor:
    """Rough bits of an integer vector step (quarter pixels, ``[..., 2]``): an exp-Golomb-like
    length per component, 0.25 bit for a zero component."""
    magnitude = step.abs().float()
    return torch.where(magnitude > 0, 2 * torch.log2(magnitude + 1) + 1, 0.25).sum(-1)


def block_search(
    reference: torch.Tensor,
    target: torch.Tensor,
    block: int,
    previous: torch.Tensor | None = None,
    lam: float = 0.0,
    reach: int = 7,
) -> torch.Tensor:
    """Rate-constrained integer-pixel block matching: for each ``block``-pixel square of
    ``target``
    the displacement within ``+-reach`` pixels of ``reference`` that minimizes
    ``0.75 * SSE + lam * bits(vector - previous)`` (luma's 6/8 share of the frame's error,
    samples in [0, 1] units; ``lam`` in the fit's units, MSE per bpp).

    Args:
        reference, target: ``[6, Hc, Wc]`` frames (only luma is compared).
        block: motion block size in luma pixels.
        previous: int64 ``[rows, cols, 2]`` vectors the step is coded against (default 0).
        lam: rate weight; 0 = plain least squares.
        reach: search range in luma pixels.

    Returns:
        int64 ``[rows, cols, 2]`` vectors in quarter pixels (x, y).
    """
    ref = F.pixel_shuffle(reference[None, :4], 2)[0, 0]
    tgt = F.pixel_shuffle(target[None, :4], 2)[0, 0]
    h, w = tgt.shape
    rows, cols = block_grid(h, w, block)
    device = ref.device
    if previous is None:
        previous = torch.zeros(rows, cols, 2, dtype=torch.int64, device=device)
    padded = F.pad(ref[None, None], (reach, reach, reach, reach), mode="replicate")[0, 0]
    best = torch.full((rows, cols), float("inf"), device=device)
    vectors = torch.zeros(rows, cols, 2, dtype=torch.int64, device=device)
    pool_size = (rows * block, cols * block)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            shifted = padded[reach + dy : reach + dy + h, reach + dx : reach + dx + w]
            err = F.pad((shifted - tgt) ** 2, (0, pool_size[1] - w, 0, pool_size[0] - h))
            sse = F.avg_pool2d(err[None, None], block)[0, 0] * (block * block)
            candidate = torch.tensor([dx * 4, dy * 4], device=device)
            cost = 0.75 * sse + lam * _vector_bits(candidate - previous)
            cost = cost + 1e-9 * (abs(dx) + abs(dy))  # ties: the shorter vector
            better = cost < best
            best = torch.where(better, cost, best)
            vectors[better] = candidate
    return vectors
