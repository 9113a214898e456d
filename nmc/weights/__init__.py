"""Network weights <-> integers <-> bytes: quantizers, QAT, sparsity, low rank, state_dict coding.

Coding (through :mod:`nmc.entropy`): :func:`encode_state_dict` / :func:`decode_state_dict` for
whole weights, :func:`encode_update` / :func:`decode_update` for the step between two
state_dicts; :func:`laplace_rate_bits` is the differentiable rate term for rate-aware training.
Quantizers: :func:`quantize` / :func:`dequantize` (step or bit width, per tensor or channel),
RDOQ (:func:`rdo_quantize`), trellis-coded quantization (:func:`trellis_quantize`), fake
quantization for QAT (:class:`FakeQuant`). Sparsity: :func:`magnitude_mask`,
:func:`threshold_mask`. Low rank: :func:`factorize`. Budgets: :func:`plan_layers` (step,
sparsity and rank per layer for a target size or error), :func:`select_ranks`,
:func:`step_for_mse`.
"""

from nmc.weights.calibrate import cheapest_config, step_for_mse
from nmc.weights.fake_quant import FakeQuant, add_fake_quant, remove_fake_quant
from nmc.weights.lowrank import compose, factorize
from nmc.weights.quantize import dequantize, quantize, step_for_bits
from nmc.weights.rate import laplace_rate_bits
from nmc.weights.rdoq import rdo_quantize
from nmc.weights.records import CodingConfig
from nmc.weights.sparsity import magnitude_mask, sparsify, threshold_mask
from nmc.weights.state_dict import decode_state_dict, encode_state_dict
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
    "CodingConfig",
    "FakeQuant",
    "LayerChoice",
    "TradeoffGrid",
    "add_fake_quant",
    "cheapest_config",
    "compose",
    "decode_plan",
    "decode_state_dict",
    "decode_update",
    "dequantize",
    "encode_plan",
    "encode_state_dict",
    "encode_update",
    "factorize",
    "laplace_rate_bits",
    "magnitude_mask",
    "plan_layers",
    "quantize",
    "rdo_quantize",
    "remove_fake_quant",
    "select_ranks",
    "sparsify",
    "step_for_bits",
    "step_for_mse",
    "threshold_mask",
    "trellis_multipliers",
    "trellis_quantize",
]
