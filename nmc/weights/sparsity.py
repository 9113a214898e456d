"""Sparsifiers: keep-masks by magnitude or threshold, per element or per channel (row).

Granularities (``granularity``):

* ``"element"`` – individual weights, ranked over the whole tensor;
* ``"row"`` – individual weights, ranked within each slice of ``channel_axis`` (every output
  channel keeps the same share, so no channel is wiped out);
* ``"channel"`` – whole slices of ``channel_axis``, ranked by their L2 norm (structured
  sparsity: the pruned channels can be removed from the network).

Masks are bool tensors with the shape of the weight (True = keep). Ties at the cut are broken
by position so that exactly the requested number of entries is kept.
"""

from __future__ import annotations

import torch

from nmc.errors import InputError

GRANULARITIES = ("element", "row", "channel")


def _check(x: torch.Tensor, granularity: str, channel_axis: int) -> None:
    if granularity not in GRANULARITIES:
        raise InputError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if granularity != "element" and not -x.ndim <= channel_axis < max(x.ndim, 1):
        raise InputError(f"channel_axis {channel_axis} is out of range for a {x.ndim}-D tensor")


def _rows(x: torch.Tensor, channel_axis: int) -> torch.Tensor:
    """``|x|`` as [channels, elements per channel] (a 0/1-D tensor is one channel)."""
    if x.ndim < 2:
        return x.detach().abs().reshape(1, -1)
    return x.detach().abs().movedim(channel_axis, 0).reshape(x.shape[channel_axis], -1)


def _from_rows(mask_rows: torch.Tensor, x: torch.Tensor, channel_axis: int) -> torch.Tensor:
    if x.ndim < 2:
        return mask_rows.reshape(x.shape)
    moved = list(x.movedim(channel_axis, 0).shape)
    return mask_rows.reshape(moved).movedim(0, channel_axis)


def _top_k_mask(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Bool mask over the last axis keeping the ``keep`` largest scores of each row."""
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if keep > 0:
        idx = torch.topk(scores, keep, dim=-1, sorted=False).indices
        mask.scatter_(-1, idx, True)
    return mask


def magnitude_mask(
    x: torch.Tensor, sparsity: float, granularity: str = "element", channel_axis: int = 0
) -> torch.Tensor:
    """Keep-mask removing the ``sparsity`` share of smallest-magnitude weights or channels.

    Args:
        x: float tensor, any shape.
        sparsity: share to remove, in [0, 1] (``0.9`` keeps 10 %; counts round down to removal).
        granularity: ``"element"``, ``"row"`` or ``"channel"`` (see module docstring).
        channel_axis: the channel axis for ``"row"`` and ``"channel"``.

    Returns:
        bool tensor with the shape of ``x``.
    """
    _check(x, granularity, channel_axis)
    if not 0.0 <= sparsity <= 1.0:
        raise InputError(f"sparsity must be in [0, 1], got {sparsity}")
    if x.numel() == 0:
        return torch.ones_like(x, dtype=torch.bool)
    if granularity == "element":
        flat = x.detach().abs().reshape(1, -1)
        keep = flat.shape[1] - int(sparsity * flat.shape[1])
        return _top_k_mask(flat, keep).reshape(x.shape)
    rows = _rows(x, channel_axis)
    if granularity == "row":
        keep = rows.shape[1] - int(sparsity * rows.shape[1])
        return _from_rows(_top_k_mask(rows, keep), x, channel_axis)
    norms = rows.pow(2).sum(dim=1).reshape(1, -1)
    keep = norms.shape[1] - int(sparsity * norms.shape[1])
    channel_keep = _top_k_mask(norms, keep).reshape(-1, 1).expand_as(rows)
    return _from_rows(channel_keep, x, channel_axis)


def threshold_mask(
    x: torch.Tensor, threshold: float, granularity: str = "element", channel_axis: int = 0
) -> torch.Tensor:
    """Keep-mask of weights with ``|x| > threshold`` (``"channel"``: RMS of the channel).

    ``"row"`` behaves like ``"element"`` here (a threshold needs no per-row ranking); it is
    accepted so callers can switch between the two mask functions freely.
    """
    _check(x, granularity, channel_axis)
    if not threshold >= 0:
        raise InputError(f"threshold must be >= 0, got {threshold}")
    if granularity != "channel" or x.numel() == 0:
        return x.detach().abs() > threshold
    rows = _rows(x, channel_axis)
    rms = rows.pow(2).mean(dim=1, keepdim=True).sqrt()
    return _from_rows((rms > threshold).expand_as(rows), x, channel_axis)


def sparsify(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with the entries outside ``mask`` set to zero (same dtype and shape)."""
    if mask.shape != x.shape:
        raise InputError(f"mask shape {tuple(mask.shape)} differs from tensor {tuple(x.shape)}")
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


def sparsity_of(x: torch.Tensor) -> float:
    """Share of exactly-zero entries (0.0 for an empty tensor)."""
    return float((x == 0).sum()) / x.numel() if x.numel() else 0.0
