"""Turning a fitted I frame into bytes: round the latents, choose each network's step, code.

The step of each network module (context model, synthesis) is searched greedily after the fit
over powers of two, minimizing the real cost ``D + lambda * R / (H W)`` with ``R`` the coded
size of the networks plus the latents' bits under the quantized context model (the context
module first: it leaves the distortion unchanged). The decoder rebuilds exactly the state the
encoder measured: integer latents, integer weights times ``2^-e``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nmc.entropy.stream import StreamReader, SymbolRecord
from nmc.video.context import ContextModel
from nmc.video.fit import distortion
from nmc.video.frame_model import (
    FrameModel,
    FrameSpec,
    context_bits,
    level_list,
    level_state,
    module_state,
    split_state,
)
from nmc.video.latent_coder import read_latents, write_latents
from nmc.video.latents import MAX_LATENT
from nmc.video.network_coder import MODULES, decode_networks, encode_networks

State = dict[str, torch.Tensor]
EXPONENTS = range(3, 13)
_START_EXPONENT = 8


def network_shapes(spec: FrameSpec) -> dict[str, tuple[int, ...]]:
    """name -> shape of the network tensors of ``spec``, in coding order."""
    with torch.device("meta"):
        model = spec.build()
    _, networks = split_state(dict(model.named_parameters()))
    return {n: tuple(t.shape) for n, t in networks.items()}


def context_module(spec: FrameSpec, state: Mapping[str, torch.Tensor]) -> ContextModel:
    """A :class:`ContextModel` holding the ``context.*`` tensors of ``state`` (CPU).

    Building it leaves torch's global generator as it was (a module's construction draws its
    initial weights from it, and the encoder's fits draw their noise from it)."""
    with torch.random.fork_rng(devices=[]):
        model = ContextModel(spec.context, spec.levels)
    model.load_state_dict(module_state(state, "context."))
    return model


def code_intra(
    model: FrameModel,
    fitted: Mapping[str, torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor,
    lam: float,
    prior: State | None = None,
) -> tuple[bytes, SymbolRecord, State]:
    """Quantize and code a fitted I frame.

    Args:
        model: the frame model; fitted: its fitted float state (any device).
        target, weights: the frame and loss weights (same device as ``fitted``).
        lam: rate weight (MSE per bpp) of the step search.
        prior: CPU float32 network tensors the coded weights are relative to (None: zero).

    Returns:
        ``(networks payload, the latents' symbols for the group's stream, decoded state)``; the
        state (CPU float32) is what :func:`decode_intra` rebuilds.
    """
    device = target.device
    latents, networks = split_state(fitted)
    latents = {n: t.clamp(-MAX_LATENT, MAX_LATENT).round() for n, t in latents.items()}
    order = list(network_shapes(model.spec))
    networks = {n: networks[n].detach().cpu() for n in order}
    levels = level_list(latents, model.spec.levels)
    pixels = model.height * model.width

    def cost(exponents: dict[str, int]) -> float:
        payload, coded = encode_networks(networks, exponents, prior)
        state = {**latents, **{n: t.to(device) for n, t in coded.items()}}
        with torch.no_grad():
            bits = 8 * len(payload) + float(context_bits(model, state, levels))
            return float(distortion(model, state, target, weights)) + lam * bits / pixels

    exponents = dict.fromkeys(MODULES, _START_EXPONENT)
    for prefix in ("context.", "synthesis."):
        costs = {e: cost({**exponents, prefix: e}) for e in EXPONENTS}
        exponents[prefix] = min(costs, key=costs.get)
    network_payload, coded = encode_networks(networks, exponents, prior)
    record = SymbolRecord()
    write_latents(record, context_module(model.spec, coded), [t.cpu() for t in levels])
    decoded = {**{n: t.cpu() for n, t in latents.items()}, **coded}
    return network_payload, record, decoded


def decode_intra(
    spec: FrameSpec, network_payload: bytes, reader: StreamReader, prior: State | None = None
) -> State:
    """Rebuild an I frame's state (CPU float32) from its network payload and its group's
    stream (``reader``, at the frame's latents; ``prior`` as the encoder's)."""
    networks = decode_networks(network_payload, network_shapes(spec), prior)
    latents = read_latents(reader, context_module(spec, networks), spec.level_shapes())
    return {**level_state(latents), **networks}
