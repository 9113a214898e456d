"""Network weights <-> integers <-> bytes: quantizers, QAT, sparsity, low rank, state_dict coding.

Coding (through :mod:`nmc.entropy`): :func:`encode_state_dict` / :func:`decode_state_dict` for
whole weights, :func:`encode_update` / :func:`decode_update` for the step between two
state_dicts; :func:`laplace_rate_bits` is the differentiable rate term for rate-aware training
(:func:`tensors_rate_bits` the same over many tensors at once).
Quantizers: :func:`quantize` / :func:`dequantize` (step or bit width, per tensor or channel),
RDOQ (:func:`rdo_quantize`), trellis-coded quantization (:func:`trellis_quantize`), fake
quantization for QAT (:class:`FakeQuant`). Sparsity: :func:`magnitude_mask`,
:func:`threshold_mask`. Low rank: :func:`factorize`. Budgets: :func:`plan_layers` (step,
sparsity and rank per layer for a target size or error), :func:`select_ranks`,
:func:`step_for_mse` / :func:`step_for_error` (any error of the reconstruction, e.g. a model's
output), :func:`cheapest_config`. Training tools: the reduced parameter space of ReLU networks
(unit-sphere rows, bounded thresholds; :func:`to_reduced`, :func:`reduce_layer`,
:func:`remove_reduced`) and compressible subspaces (one training for every sparsity or bit
width along a line of networks; :class:`CompressionSchedule`, :func:`add_subspace`,
:func:`train_subspace`, :func:`export_subspace`, :func:`coding_steps`).
"""

from nmc.weights.calibrate import cheapest_config, step_for_error, step_for_mse
from nmc.weights.fake_quant import FakeQuant, add_fake_quant, remove_fake_quant
from nmc.weights.lowrank import compose, factorize
from nmc.weights.quantize import dequantize, quantize, step_for_bits
from nmc.weights.rate import laplace_rate_bits, tensors_rate_bits
from nmc.weights.rdoq import rdo_quantize
from nmc.weights.records import CodingConfig
from nmc.weights.sparsity import magnitude_mask, sparsify, threshold_mask
from nmc.weights.sphere import BoundedBias, UnitSphere, reduce_layer, remove_reduced, to_reduced
from nmc.weights.state_dict import decode_state_dict, encode_state_dict
from nmc.weights.subspace import (
    CompressionSchedule,
    SubspaceLine,
    add_subspace,
    coding_steps,
    export_subspace,
    sample_alpha,
    set_alpha,
    train_subspace,
)
from nmc.weights.tradeoff import (
    LayerChoice,
    TradeoffGrid,
    decode_plan,
    encode_plan,
    plan_layers,
    select_ranks,
)
from nmc.weights.trellis import trellis_multipliers, trellis_quantize
from nmc.weights.update import decode_update, encode_update

__all__ = [
    "BoundedBias",
    "CodingConfig",
    "CompressionSchedule",
    "FakeQuant",
    "LayerChoice",
    "SubspaceLine",
    "TradeoffGrid",
    "UnitSphere",
    "add_fake_quant",
    "add_subspace",
    "cheapest_config",
    "coding_steps",
    "compose",
    "decode_plan",
    "decode_state_dict",
    "decode_update",
    "dequantize",
    "encode_plan",
    "encode_state_dict",
    "encode_update",
    "export_subspace",
    "factorize",
    "laplace_rate_bits",
    "magnitude_mask",
    "plan_layers",
    "quantize",
    "rdo_quantize",
    "reduce_layer",
    "remove_fake_quant",
    "remove_reduced",
    "sample_alpha",
    "select_ranks",
    "set_alpha",
    "sparsify",
    "step_for_bits",
    "step_for_error",
    "step_for_mse",
    "tensors_rate_bits",
    "threshold_mask",
    "to_reduced",
    "train_subspace",
    "trellis_multipliers",
    "trellis_quantize",
]
