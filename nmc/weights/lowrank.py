"""Low-rank factorization of weight matrices by truncated SVD.

A weight ``W`` of shape ``[out, *rest]`` is viewed as the matrix ``[out, prod(rest)]`` and
approximated by ``A @ B`` with ``A = U_r S_r^{1/2}`` (``[out, r]``) and ``B = S_r^{1/2} V_r^T``
(``[r, *rest]``), the best rank-``r`` approximation in Frobenius norm (Eckart–Young). The
singular values are split evenly between the factors, so both have similar magnitudes and one
quantization step suits both. Rank selection under a budget lives in
:func:`nmc.weights.tradeoff.select_ranks`.
"""

from __future__ import annotations

import math

import torch

from nmc.errors import InputError


def max_rank(shape: tuple[int, ...]) -> int:
    """Largest useful rank of a weight of this shape (``min(out, prod(rest))``)."""
    return min(shape[0], math.prod(shape[1:])) if len(shape) >= 2 else 0


def factorize(w: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best rank-``rank`` factors of ``w`` (float32 ``A`` [out, r], ``B`` [r, *rest]).

    Raises InputError for tensors with fewer than 2 dims or ranks outside ``1..max_rank``.
    """
    top = max_rank(tuple(w.shape))
    if not 1 <= rank <= top:
        raise InputError(f"rank must be in 1..{top} for a weight of shape {tuple(w.shape)}")
    matrix = w.detach().float().reshape(w.shape[0], -1)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[:rank].sqrt()
    a = u[:, :rank] * root
    b = (root[:, None] * vh[:rank]).reshape((rank,) + tuple(w.shape[1:]))
    return a.contiguous(), b.contiguous()


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``A @ B`` reshaped to the weight: ``[out, *b.shape[1:]]`` (float32)."""
    if a.ndim != 2 or b.ndim < 2 or a.shape[1] != b.shape[0]:
        raise InputError(f"factors of shapes {tuple(a.shape)} and {tuple(b.shape)} do not chain")
    return (a.float() @ b.float().reshape(b.shape[0], -1)).reshape(
        (a.shape[0],) + tuple(b.shape[1:])
    )


def factor_params(shape: tuple[int, ...], rank: int) -> int:
    """Number of parameters of the two factors at ``rank``."""
    return rank * (shape[0] + math.prod(shape[1:])) if len(shape) >= 2 else 0
