"""ReLU networks in a reduced parameter space: unit-sphere weights, bounded thresholds.

For a ReLU neuron, positive homogeneity gives
:math:`\\operatorname{relu}(w \\cdot x + b) = \\lVert w \\rVert\\,\\operatorname{relu}(\\hat w
\\cdot x + b / \\lVert w \\rVert)` with :math:`\\hat w = w / \\lVert w \\rVert`, so every hidden
neuron can keep its weight row on the unit sphere and hand its scale to the next layer's column.
If the inputs satisfy :math:`\\lVert x \\rVert \\le X`, then :math:`|\\hat w \\cdot x| \\le X`
and a threshold :math:`t = b / \\lVert w \\rVert` beyond :math:`[-X, X]` changes nothing that
the bound cannot express: :math:`t < -X` is a neuron that never fires (same as :math:`t = -X`),
:math:`t > X` one that always fires, equal to the neuron at :math:`t = X` plus the constant
:math:`\\lVert w \\rVert (t - X)`, which moves into the next layer's bias. The network in the
reduced space (rows on the sphere, thresholds in :math:`[-X_k, X_k]`, last layer free) is
therefore exactly as expressive as the standard one on :math:`\\lVert x \\rVert \\le X_0`.

Bounds per layer: a hidden unit of layer :math:`k` outputs
:math:`\\operatorname{relu}(\\hat w \\cdot x + t) \\in [0, 2 X_k]`, so the next layer sees
:math:`\\lVert h \\rVert \\le X_{k+1} = 2 \\sqrt{n_k}\\, X_k` (:math:`n_k` units). The bound
must hold for every point of the reduced space that training can reach, and it is reached
there (all rows equal to :math:`x / \\lVert x \\rVert`, all thresholds :math:`+X_k`), so no
tighter bound is valid for the whole space.

Thresholds are kept in the interval by a clamp (:class:`BoundedBias`), not by
:math:`X \\tanh(u)`: converting always-off / always-on neurons exactly needs the end points
:math:`\\pm X` themselves, which tanh reaches only asymptotically, and a clamp leaves the
gradient inside the interval untouched. A plain clamp would freeze a threshold parked at
:math:`\\pm X` for good once an optimizer step pushes the raw value past the bound, so the
backward pass lets a gradient through outside the interval when (and only when) its descent
step points back inside.

:func:`to_reduced` converts a trained ``Linear, ReLU, ..., Linear`` network exactly;
:func:`reduce_layer` constrains a single Linear or Conv2d layer (training from scratch);
:func:`remove_reduced` bakes the constrained values into plain parameters, ready for
:func:`~nmc.weights.encode_state_dict`.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from nmc.errors import InputError

SUPPORTED = "an nn.Sequential of nn.Linear layers separated by nn.ReLU (Linear, ReLU, ..., Linear)"


class _InwardClamp(torch.autograd.Function):
    """``clamp(v, -bound, bound)``; outside the interval only inward gradients pass."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.bound = bound
        return v.clamp(-bound, bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (v,) = ctx.saved_tensors
        # gradient descent moves v by -grad: block the steps that lead further out
        outward = ((v > ctx.bound) & (grad < 0)) | ((v < -ctx.bound) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None


def _float32_floor(x: float) -> float:
    """The largest float32 value <= ``x``."""
    x32 = torch.tensor(x, dtype=torch.float32)
    return float(torch.nextafter(x32, torch.zeros(())) if float(x32) > x else x32)


class UnitSphere(nn.Module):
    """Parametrization: every slice of axis 0 (a Linear row, a Conv out-channel) has L2 norm 1.

    Maps a weight of shape ``[out, *rest]`` to ``v / ||v||`` per slice of axis 0 (norms
    floored at 1e-12, so an all-zero slice stays zero instead of turning into NaN).
    """

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(v.flatten(1), dim=1).view_as(v)


class BoundedBias(nn.Module):
    """Parametrization: thresholds clamped to ``[-bound, bound]`` (see the module docstring).

    Args:
        bound: ``X``, a bound on the L2 norm of the layer's input vectors (per Conv2d output
            position: of the receptive-field patch), finite and > 0. Kept as the largest
            float32 value <= ``bound``, so that float32 thresholds never exceed it.
    """

    def __init__(self, bound: float) -> None:
        super().__init__()
        if not 0.0 < bound < math.inf:
            raise InputError(f"the input bound must be finite and > 0, got {bound}")
        self.bound = _float32_floor(bound)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return _InwardClamp.apply(v, self.bound)

    def extra_repr(self) -> str:
        return f"bound={self.bound:g}"


def reduce_layer(layer: nn.Module, bound: float) -> nn.Module:
    """Constrain ``layer`` in place: rows on the unit sphere, bias in ``[-bound, bound]``.

    This parametrizes the layer as it is (its rows are normalized, its bias clamped), which
    changes its function unless the rows already have norm 1; it is meant for training in the
    reduced space from scratch. To convert a trained network without changing its outputs,
    use :func:`to_reduced`.

    Args:
        layer: ``nn.Linear`` or ``nn.Conv2d`` (a bias is optional).
        bound: bound ``X`` on the L2 norm of the layer's input (Conv2d: of one input patch,
            ``in_channels * kh * kw`` values).

    Returns:
        ``layer``.
    """
    if type(layer) not in (nn.Linear, nn.Conv2d):
        raise InputError(
            f"reduce_layer supports nn.Linear and nn.Conv2d layers, got {type(layer).__name__}"
        )
    clamp = BoundedBias(bound)
    parametrize.register_parametrization(layer, "weight", UnitSphere())
    if layer.bias is not None:
        parametrize.register_parametrization(layer, "bias", clamp)
    return layer


def _checked_linears(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a ``Linear, ReLU, ..., Linear`` Sequential, or InputError."""
    if not isinstance(model, nn.Sequential) or len(model) % 2 == 0:
        raise InputError(f"to_reduced supports {SUPPORTED}, got {type(model).__name__}")
    for i, layer in enumerate(model):
        expected = nn.Linear if i % 2 == 0 else nn.ReLU
        kind = parametrize.type_before_parametrizations(layer)
        if kind is not expected:
            raise InputError(
                f"to_reduced supports {SUPPORTED}; layer {i} is {kind.__name__}, "
                f"expected {expected.__name__}"
            )
    linears = list(model)[::2]
    for prev, nxt in zip(linears, linears[1:]):
        if nxt.in_features != prev.out_features:
            raise InputError(
                f"a Linear with {prev.out_features} outputs feeds one with {nxt.in_features} inputs"
            )
    return linears


@torch.no_grad()
def to_reduced(model: nn.Sequential, input_bound: float) -> nn.Sequential:
    """A copy of a ReLU MLP in the reduced parameter space, with the same outputs.

    Every hidden Linear layer ``k`` gets :class:`UnitSphere` rows and a :class:`BoundedBias`
    with bound ``X_k`` (``X_0 = input_bound``, ``X_{k+1} = 2 sqrt(n_k) X_k``); row norms move
    into the next layer's columns, thresholds below ``-X_k`` clamp to ``-X_k`` (the neuron never
    fires), thresholds above ``X_k`` clamp to ``X_k`` with the excess moved into the next
    layer's bias; an all-zero row (a constant neuron) becomes a never-firing one whose constant
    moves into the next bias. The last Linear layer stays free. Arithmetic runs in float64,
    results are cast back to each layer's dtype. Layers without a bias get one (zeros).

    Args:
        model: ``nn.Sequential(Linear, ReLU, ..., Linear)``; it is not modified.
        input_bound: ``X_0 >= ||x||`` for every input row ``x`` the network will see; outside
            that ball the converted network may differ.

    Returns:
        The converted ``nn.Sequential`` (parametrized; see :func:`remove_reduced`).
    """
    if not 0.0 < input_bound < math.inf:
        raise InputError(f"input_bound must be finite and > 0, got {input_bound}")
    reduced = copy.deepcopy(model)
    linears = _checked_linears(reduced)
    if any(parametrize.is_parametrized(layer) for layer in linears):
        raise InputError("to_reduced takes plain layers; remove their parametrizations first")
    for layer in linears:
        if layer.bias is None:
            layer.bias = nn.Parameter(layer.weight.new_zeros(layer.out_features))
    bound = float(input_bound)
    for layer, nxt in zip(linears, linears[1:]):
        limit = _float32_floor(bound)  # the interval BoundedBias will enforce
        w, b = layer.weight.double(), layer.bias.double()
        norm = w.norm(dim=1)
        alive = norm > 0
        safe = torch.where(alive, norm, 1.0)
        t = b / safe
        rows = torch.where(alive[:, None], w / safe[:, None], 0.0)
        rows[~alive, 0] = 1.0  # any unit row: its threshold -X keeps it silent
        constant = torch.where(alive, norm * (t - limit).clamp_min(0.0), b.clamp_min(0.0))
        t = torch.where(alive, t.clamp(-limit, limit), -limit)
        w_next = nxt.weight.double()
        nxt.bias.copy_(nxt.bias.double() + w_next @ constant)
        nxt.weight.copy_(w_next * norm[None, :])
        layer.weight.copy_(rows)
        layer.bias.copy_(t)
        reduce_layer(layer, bound)
        bound = 2.0 * math.sqrt(layer.out_features) * bound
    return reduced


def remove_reduced(model: nn.Module) -> nn.Module:
    """Bake every :class:`UnitSphere` / :class:`BoundedBias` into a plain parameter, in place.

    Returns ``model``, whose rows keep norm 1 and thresholds their bounds, so its
    ``state_dict()`` codes with :func:`~nmc.weights.encode_state_dict` as usual.
    """
    for module in model.modules():
        if not parametrize.is_parametrized(module):
            continue
        for name in list(module.parametrizations):
            if isinstance(module.parametrizations[name][0], UnitSphere | BoundedBias):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model
