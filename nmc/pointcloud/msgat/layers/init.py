"""Parameter initialisation shared by the MS-GAT operators (PyG's conventions)."""

from __future__ import annotations

import math

import torch


def glorot_(tensor: torch.Tensor) -> torch.Tensor:
    """Glorot (Xavier) uniform initialisation in place, as ``torch_geometric.nn.inits.glorot``:
    ``U(-a, a)`` with ``a = sqrt(6 / (size(-2) + size(-1)))`` (also for tensors of more than
    two dimensions, where torch's ``xavier_uniform_`` would count the leading ones too)."""
    bound = math.sqrt(6.0 / (tensor.size(-2) + tensor.size(-1)))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


def glorot_linear(in_channels: int, out_channels: int, bias: bool) -> torch.nn.Linear:
    """A ``torch.nn.Linear`` initialised as PyG's ``Linear(..., weight_initializer="glorot")``:
    Glorot weight, bias ``U(-1/sqrt(in), 1/sqrt(in))`` (torch's own bias rule)."""
    lin = torch.nn.Linear(in_channels, out_channels, bias=bias)
    reset_glorot_linear(lin)
    return lin


def reset_glorot_linear(lin: torch.nn.Linear) -> None:
    """Re-draw the parameters of a :func:`glorot_linear` layer."""
    glorot_(lin.weight)
    if lin.bias is not None:
        bound = 1.0 / math.sqrt(lin.in_features)
        with torch.no_grad():
            lin.bias.uniform_(-bound, bound)
