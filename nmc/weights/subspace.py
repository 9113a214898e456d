"""Compressible subspaces: one training, a network at every sparsity or bit width.

After Nunez et al., "LCS: Learning Compressible Subspaces for Adaptive Network Compression at
Inference Time" (WACV 2023). Each weight is a line between two trained endpoints,
:math:`\\theta(\\alpha) = (1 - \\alpha)\\,\\theta_0 + \\alpha\\,\\theta_1`,
:math:`\\alpha \\in [0, 1]`, and the point :math:`\\alpha` is always used compressed at the level
:math:`\\gamma(\\alpha)` of a :class:`CompressionSchedule`:

* ``"sparsity"``: :math:`\\gamma(\\alpha) = s_0 + \\alpha (s_1 - s_0)`, the share of weights
  removed by :func:`~nmc.weights.sparsity.magnitude_mask` (granularity ``"element"``,
  ``"row"`` or ``"channel"``, i.e. unstructured or structured);
* ``"bits"``: :math:`[0, 1]` split into one equal bin per integer bit width from ``start``
  down to ``stop`` (so a uniform :math:`\\alpha` trains every width equally often); the weight is
  uniformly quantized per output channel with the step
  :func:`~nmc.weights.quantize.step_for_bits` of :math:`\\theta(\\alpha)` (``max|w|`` on the
  top level).

The forward pass returns exactly the compressed weight; the backward pass is straight-through
(the gradient of :math:`\\theta(\\alpha)` is the gradient of the compressed weight, pruned
entries included, so they can grow back). Training samples one :math:`\\alpha` per step
(:func:`sample_alpha`, :func:`train_subspace`); any :math:`\\alpha` is then usable without
retraining (:func:`set_alpha`, :func:`export_subspace`). Only weights (Linear and Conv
layers) are lines; biases and other parameters are shared by the whole line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from nmc.errors import InputError
from nmc.weights.quantize import dequantize, quantize, step_for_bits
from nmc.weights.sparsity import GRANULARITIES, magnitude_mask, sparsify

KINDS = ("sparsity", "bits")
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")


@dataclass(frozen=True)
class CompressionSchedule:
    """The compression level :math:`\\gamma(\\alpha)` along the line.

    Attributes:
        kind: ``"sparsity"`` or ``"bits"``.
        start: level at :math:`\\alpha = 0` (the accurate end): a share in [0, 1] for
            sparsity, an integer bit width in 2..24 for bits.
        stop: level at :math:`\\alpha = 1` (the compressed end), same units.
        granularity: sparsity mask granularity (see :mod:`nmc.weights.sparsity`); with
            ``"row"`` and ``"channel"`` the channel axis is 0 (output channels).
    """

    kind: str = "sparsity"
    start: float = 0.0
    stop: float = 0.9
    granularity: str = "element"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"schedule kind must be one of {KINDS}, got {self.kind!r}")
        if self.granularity not in GRANULARITIES:
            raise InputError(
                f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}"
            )
        if self.kind == "sparsity" and not (0.0 <= self.start <= 1.0 and 0.0 <= self.stop <= 1.0):
            raise InputError(f"sparsity levels must lie in [0, 1], got {self.start} .. {self.stop}")
        if self.kind == "bits" and not all(
            float(b).is_integer() and 2 <= b <= 24 for b in (self.start, self.stop)
        ):
            raise InputError(
                f"bit widths must be integers in 2..24, got {self.start} .. {self.stop}"
            )

    def level(self, alpha: float) -> float:
        """:math:`\\gamma(\\alpha)`: the sparsity share, or the bit width (an integer value)."""
        _check_alpha(alpha)
        if self.kind == "sparsity":
            return self.start + alpha * (self.stop - self.start)
        widths = int(abs(self.stop - self.start)) + 1
        index = min(int(alpha * widths), widths - 1)
        return int(self.start + math.copysign(index, self.stop - self.start))

    def compress(self, w: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``w`` compressed at :math:`\\gamma(\\alpha)` (no gradient) and its step.

        Args:
            w: float weight ``[out, *rest]``.
            alpha: point on the line, in [0, 1].

        Returns:
            ``(compressed, step)``: a tensor like ``w``; for bits the float32 step ``[out]``
            (``compressed == dequantize(quantize(w, step, 0, bits), step, 0)``), else None.
        """
        level = self.level(alpha)
        if self.kind == "sparsity":
            mask = magnitude_mask(w, level, self.granularity, channel_axis=0)
            return sparsify(w.detach(), mask), None
        step = step_for_bits(w, int(level), channel_axis=0)
        levels = quantize(w, step, channel_axis=0, bits=int(level))
        return dequantize(levels, step, channel_axis=0).to(w.dtype), step


class SubspaceLine(nn.Module):
    """Parametrization of a weight as a compressed point of a line between two endpoints.

    Registered on ``module.weight`` it owns ``original0`` (:math:`\\theta_0`) and
    ``original1`` (:math:`\\theta_1`); both start at the weight it replaces.

    Args:
        schedule: the compression level along the line.
        alpha: the current point, in [0, 1] (change it with :func:`set_alpha`).
    """

    def __init__(self, schedule: CompressionSchedule, alpha: float = 0.0) -> None:
        super().__init__()
        _check_alpha(alpha)
        self.schedule = schedule
        self.alpha = float(alpha)

    def right_inverse(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return w, w.clone()

    def forward(self, w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
        w = torch.lerp(w0, w1, self.alpha)
        compressed, _ = self.schedule.compress(w, self.alpha)
        # exactly `compressed` in value (w - w.detach() is 0); the gradient reaches w unchanged
        return compressed + (w - w.detach())

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, {self.schedule}"


def _lines(model: nn.Module) -> list[tuple[str, nn.Module, SubspaceLine]]:
    """``(name of the weight, module, line)`` for every line of ``model``, or InputError."""
    found = [
        (f"{name}.weight" if name else "weight", module, module.parametrizations.weight[0])
        for name, module in model.named_modules()
        if parametrize.is_parametrized(module, "weight")
        and isinstance(module.parametrizations.weight[0], SubspaceLine)
    ]
    if not found:
        raise InputError("the model has no subspace lines; call add_subspace(model, schedule)")
    return found


def add_subspace(
    model: nn.Module, schedule: CompressionSchedule, types: tuple[type[nn.Module], ...] = LAYERS
) -> nn.Module:
    """Register a :class:`SubspaceLine` on the ``weight`` of every module of ``types``.

    Both endpoints start at the current weight (a fresh or a pretrained network) and separate
    in training, since :math:`\\theta_0` receives :math:`1 - \\alpha` and :math:`\\theta_1`
    :math:`\\alpha` times the gradient. Returns ``model`` (modified in place, at
    :math:`\\alpha = 0`); build the optimizer afterwards, the parameters are new.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, types) and not parametrize.is_parametrized(module, "weight"):
            parametrize.register_parametrization(module, "weight", SubspaceLine(schedule))
            count += 1
    if not count:
        names = ", ".join(t.__name__ for t in types)
        raise InputError(f"add_subspace found no unparametrized layer of the types {names}")
    return model


def set_alpha(model: nn.Module, alpha: float) -> nn.Module:
    """Move every line of ``model`` to the point ``alpha`` in [0, 1]; returns ``model``."""
    _check_alpha(alpha)
    for _, _, line in _lines(model):
        line.alpha = float(alpha)
    return model


def sample_alpha(generator: torch.Generator | None = None, endpoint_share: float = 0.25) -> float:
    """One training point: 0 or 1 with probability ``endpoint_share / 2`` each, else U(0, 1).

    The endpoints get extra weight because they are the points a single line trains least
    (a uniform draw almost never lands on them) yet the ones deployed most: the accurate end
    and the most compressed end, whose weights also anchor every point in between.
    """
    if not 0.0 <= endpoint_share <= 1.0:
        raise InputError(f"endpoint_share must be in [0, 1], got {endpoint_share}")
    u, v = torch.rand(2, generator=generator).tolist()
    if u < endpoint_share:
        return float(v < 0.5)
    return v


def train_subspace(
    model: nn.Module,
    loss_fn: Callable[[nn.Module], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    endpoint_share: float = 0.25,
    generator: torch.Generator | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[float]:
    """Train the line: per step one :func:`sample_alpha`, one loss, one optimizer step.

    Args:
        model: a model with lines (:func:`add_subspace`), in training mode.
        loss_fn: computes the scalar loss of ``model`` on the next batch.
        optimizer: over ``model.parameters()`` (endpoints included).
        steps: number of optimizer steps.
        endpoint_share: see :func:`sample_alpha`.
        generator: source of the :math:`\\alpha` draws (reproducible training).
        scheduler: learning-rate schedule, stepped after every optimizer step. A schedule
            that decays to the end matters more here than for a single network: every step
            moves the whole line, so with a constant rate the last few draws of
            :math:`\\alpha` leave the other points noticeably off their optimum.

    Returns:
        The loss of every step (float). The model is left at the last sampled point.
    """
    losses = []
    for _ in range(steps):
        set_alpha(model, sample_alpha(generator, endpoint_share))
        loss = loss_fn(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def _export(
    model: nn.Module, alpha: float
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The plain state_dict at ``alpha`` and the steps of its quantized weights."""
    _check_alpha(alpha)
    lines = _lines(model)
    state = {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if not k.startswith("parametrizations.") and ".parametrizations." not in k
    }
    steps = {}
    for name, module, line in lines:
        ends = module.parametrizations.weight
        # the forward pass's own arithmetic, at `alpha` instead of the line's current point
        w = torch.lerp(ends.original0, ends.original1, alpha)
        state[name], step = line.schedule.compress(w, alpha)
        if step is not None:
            steps[name] = step
    return state, steps


def export_subspace(model: nn.Module, alpha: float) -> dict[str, torch.Tensor]:
    """The plain ``state_dict`` at ``alpha``: names and values of the unparametrized model.

    Each line weight is the forward pass's value at ``alpha`` bit for bit (pruned weights are
    exact zeros; quantized ones ``levels * step`` in float32); the model itself, and the point
    its lines sit at, are not changed. Load it into a plain instance of the architecture. With
    the steps of :func:`coding_steps`, ``encode_state_dict(export_subspace(m, a),
    coding_steps(m, a, s))`` reproduces the quantized weights exactly, since
    ``round(q * step / step) == q``.
    """
    return _export(model, alpha)[0]


def coding_steps(model: nn.Module, alpha: float, step: float) -> dict[str, torch.Tensor]:
    """Steps for :func:`~nmc.weights.encode_state_dict` of :func:`export_subspace` at ``alpha``.

    Args:
        model: a model with lines.
        alpha: point in [0, 1].
        step: step of every float tensor that is not a quantized line (biases, sparse or
            float weights): the coding error of those is at most ``step / 2``.

    Returns:
        name -> float32 step: shape ``[out]`` for the weights of a ``"bits"`` schedule (the
        quantizer's own step, so their coding is lossless), ``()`` otherwise; one entry per
        float tensor of the export.
    """
    state, line_steps = _export(model, alpha)
    default = torch.tensor(step, dtype=torch.float32)
    return {k: line_steps.get(k, default) for k, v in state.items() if v.is_floating_point()}
