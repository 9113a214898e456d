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


# Block matching looks within +-SEARCH_REACH luma pixels of zero at full resolution, and
# up to +-4 * COARSE_REACH pixels on the luma plane averaged over 4 x 4 pixels, refined
# within +-REFINE_REACH pixels at full resolution. Fast motion needs the far reach: bikes
# frames 96-105 (a car crossing, 352 x 256) move up to ~30 pixels a frame and Big Buck
# Bunny frames 20-29 more than 7. The best match within 7 pixels left 0.24-0.96 of the
# frame's energy unexplained on the first (8 of 10 frames taken for scene cuts) and
# 0.010-0.091 on the second; this search 0.06-0.20 and 0.007-0.012 (docs/video.md).
SEARCH_REACH = 7
COARSE_REACH = 8
REFINE_REACH = 2
_COARSE = 4


def block_search(
    reference: torch.Tensor,
    target: torch.Tensor,
    block: int,
    previous: torch.Tensor | None = None,
    lam: float = 0.0,
    reach: int = SEARCH_REACH,
) -> torch.Tensor:
    """Rate-constrained integer-pixel block matching: for each ``block``-pixel square of
    ``target`` the displacement of ``reference`` that minimizes ``0.75 * SSE + lam *
    bits(vector - previous)`` (luma's 6/8 share of the frame's error, samples in [0, 1]
    units; ``lam`` in the fit's units, MSE per bpp), among every displacement within
    ``+-reach`` pixels, those within ``REFINE_REACH`` pixels of the block's best match on
    4 x 4-averaged luma (``+-4 * COARSE_REACH`` pixels: fast motion), its ``previous``
    vector (rounded to pixels) and, twice over, its four neighbours' current best (a moving
    object's flat blocks take the motion its textured blocks found).

    Args:
        reference, target: ``[6, Hc, Wc]`` frames (only luma is compared).
        block: motion block size in luma pixels.
        previous: int64 ``[rows, cols, 2]`` vectors the step is coded against (default 0).
        lam: rate weight; 0 = plain least squares.
        reach: full-resolution search range around zero, in luma pixels.

    Returns:
        int64 ``[rows, cols, 2]`` vectors in quarter pixels (x, y).
    """
    ref = F.pixel_shuffle(reference[None, :4], 2)[0, 0]
    tgt = F.pixel_shuffle(target[None, :4], 2)[0, 0]
    rows, cols = block_grid(*tgt.shape, block)
    if previous is None:
        previous = torch.zeros(rows, cols, 2, dtype=torch.int64, device=ref.device)
    best, vectors = _full_search(ref, tgt, block, reach, previous, lam)

    def consider(shift: torch.Tensor) -> None:  # a candidate per block, luma pixels
        cost = 0.75 * _block_sse(ref, tgt, block, shift) + lam * _vector_bits(4 * shift - previous)
        _keep_better(best, vectors, cost, 4 * shift)

    coarse_tgt = _average(tgt, _COARSE)
    if block % _COARSE == 0 and min(coarse_tgt.shape) > 2 * COARSE_REACH:
        coarse_ref, zeros = _average(ref, _COARSE), torch.zeros_like(previous)
        _, coarse = _full_search(coarse_ref, coarse_tgt, block // _COARSE, COARSE_REACH, zeros, 0.0)
        index = [torch.arange(n, device=ref.device).clamp(max=m - 1)
                 for n, m in zip((rows, cols), coarse.shape[:2])]  # fmt: skip
        centre = coarse[index[0]][:, index[1]] * _COARSE // 4  # luma pixels
        for dy in range(-REFINE_REACH, REFINE_REACH + 1):
            for dx in range(-REFINE_REACH, REFINE_REACH + 1):
                consider(centre + torch.tensor([dx, dy], device=ref.device))
    consider(torch.div(previous + 2, 4, rounding_mode="floor"))
    for _ in range(2):  # neighbours' vectors: a moving object is found where it is textured
        for neighbour in _neighbour_fields(vectors // 4):
            consider(neighbour)
    return vectors


def _neighbour_fields(field: torch.Tensor) -> list[torch.Tensor]:
    """``field`` ``[rows, cols, 2]`` shifted by one block up, down, left and right (edges
    repeated): each block's four neighbours' values."""
    down = torch.cat([field[:1], field[:-1]])
    up = torch.cat([field[1:], field[-1:]])
    right = torch.cat([field[:, :1], field[:, :-1]], dim=1)
    left = torch.cat([field[:, 1:], field[:, -1:]], dim=1)
    return [down, up, right, left]


def _average(plane: torch.Tensor, factor: int) -> torch.Tensor:
    """``plane`` ``[h, w]`` averaged over ``factor x factor`` cells (edges replicated)."""
    h, w = plane.shape
    padded = F.pad(plane[None, None], (0, -w % factor, 0, -h % factor), mode="replicate")
    return F.avg_pool2d(padded, factor)[0, 0]


def _full_search(
    ref: torch.Tensor,
    tgt: torch.Tensor,
    block: int,
    reach: int,
    previous: torch.Tensor,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every displacement within ``+-reach`` pixels of zero for each ``block``-pixel square
    of the plane ``tgt`` ``[h, w]``: the best ``(cost [rows, cols], int64 vectors [rows,
    cols, 2] in quarter pixels)`` (cost as :func:`block_search`; ties: the shorter vector)."""
    h, w = tgt.shape
    rows, cols = block_grid(h, w, block)
    padded = F.pad(ref[None, None], (reach, reach, reach, reach), mode="replicate")[0, 0]
    best = torch.full((rows, cols), float("inf"), device=ref.device)
    vectors = torch.zeros(rows, cols, 2, dtype=torch.int64, device=ref.device)
    pool_size = (rows * block, cols * block)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            shifted = padded[reach + dy : reach + dy + h, reach + dx : reach + dx + w]
            err = F.pad((shifted - tgt) ** 2, (0, pool_size[1] - w, 0, pool_size[0] - h))
            sse = F.avg_pool2d(err[None, None], block)[0, 0] * (block * block)
            candidate = torch.tensor([dx * 4, dy * 4], device=ref.device)
            cost = 0.75 * sse + lam * _vector_bits(candidate - previous)
            _keep_better(best, vectors, cost + 1e-9 * (abs(dx) + abs(dy)), candidate)
    return best, vectors


def _keep_better(
    best: torch.Tensor, vectors: torch.Tensor, cost: torch.Tensor, candidate: torch.Tensor
) -> None:
    """Where ``cost`` ``[rows, cols]`` is below ``best``, take it and ``candidate`` (int64
    ``[2]`` or ``[rows, cols, 2]``, quarter pixels) into ``best`` and ``vectors`` (in place)."""
    better = cost < best
    best.copy_(torch.where(better, cost, best))
    vectors[better] = candidate if candidate.dim() == 1 else candidate[better]


def _block_sse(ref: torch.Tensor, tgt: torch.Tensor, block: int, shift: torch.Tensor):
    """SSE of each ``block``-pixel square of ``tgt`` ``[h, w]`` against ``ref`` displaced by
    its own integer ``shift`` (int64 ``[rows, cols, 2]``, luma pixels, x then y; ``ref``'s
    edges replicated, pixels past ``tgt``'s edges not counted): ``[rows, cols]``."""
    h, w = tgt.shape
    rows, cols = shift.shape[:2]
    offsets = torch.arange(block, device=ref.device)
    ys = (torch.arange(rows, device=ref.device) * block)[:, None, None, None] + offsets[:, None]
    xs = (torch.arange(cols, device=ref.device) * block)[None, :, None, None] + offsets
    inside = (ys < h) & (xs < w)
    ty, tx = ys.clamp(max=h - 1), xs.clamp(max=w - 1)
    ry = (ty + shift[..., 1, None, None]).clamp(0, h - 1)
    rx = (tx + shift[..., 0, None, None]).clamp(0, w - 1)
    err = torch.where(inside, (ref[ry, rx] - tgt[ty, tx]) ** 2, 0.0)
    return err.sum(dim=(2, 3))
