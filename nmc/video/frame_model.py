"""One frame as decoder parameters: latent grids, a context model and a synthesis network.

:class:`FrameSpec` is what the decoder needs to rebuild the (uninitialized) model; the model's
parameters are a flat state_dict (``latents.{l}``, ``synthesis.*``, ``context.*``) so frames
can be fitted functionally and P frames can step any subset of it.

Family ids (stored in the codec header, never reused): 0 = ``mlp`` (per-pixel MLP synthesis),
1 = ``conv`` (the same followed by residual 3x3 convolutions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from nmc.bitstream import FieldReader, FieldWriter
from nmc.errors import BitstreamError
from nmc.video.context import ContextArch, ContextModel, latent_bits
from nmc.video.latents import MAX_LEVELS, level_shapes
from nmc.video.synthesis import UPSAMPLE_TAPS, Synthesis, SynthesisArch, synthesis_input

FAMILIES = ("mlp", "conv")
LATENT = "latents."
MAX_PARAMETERS = 1 << 16
_MAX_WIDTH = 256
_MAX_LAYERS = 8
_MAX_REFINE = 8

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FrameSpec:
    """Everything the decoder needs to rebuild a frame model."""

    family: str
    levels: int
    synthesis: SynthesisArch
    context: ContextArch
    height: int
    width: int

    def build(self) -> FrameModel:
        """A fresh model with uninitialized parameters."""
        return FrameModel(self)

    def level_shapes(self) -> list[tuple[int, int]]:
        return level_shapes(self.height, self.width, self.levels)

    def network_parameters(self) -> int:
        """Number of synthesis + context weights (latents excluded), counted on ``meta``."""
        with torch.device("meta"):
            model = self.build()
        return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(LATENT))

    def write(self, out: FieldWriter) -> None:
        """Append family, levels, layer sizes, the context model's positional flag and the
        upsampling kernels' taps to a codec header."""
        out.u8(FAMILIES.index(self.family)).uvarint(self.levels)
        for fields in (self.synthesis.fields(), self.context.fields()):
            out.uvarint(len(fields))
            for value in fields:
                out.uvarint(value)
        out.u8(int(self.context.positional)).u8(self.synthesis.upsample)

    @staticmethod
    def read(src: FieldReader, height: int, width: int, version: int) -> FrameSpec:
        """The spec :meth:`write` wrote into a video header of ``version``: version 6 lacks the
        positional flag (a context model without positional inputs), 6 and 7 lack the taps
        (fixed bicubic upsampling)."""
        family_id = src.u8()
        if family_id >= len(FAMILIES):
            raise BitstreamError(f"{src.what}: unknown network family id {family_id}")
        levels = src.bounded_uvarint(MAX_LEVELS, "latent levels")
        synthesis = _read_sizes(src, "synthesis")
        context = _read_sizes(src, "context")
        positional = src.u8() if version >= 7 else 0
        if positional > 1:
            raise BitstreamError(f"{src.what}: unknown context model inputs {positional}")
        upsample = src.u8() if version >= 8 else 0
        if upsample not in UPSAMPLE_TAPS:
            raise BitstreamError(f"{src.what}: unsupported upsampling kernel taps {upsample}")
        if levels < 1 or len(synthesis) < 1 or synthesis[0] > _MAX_REFINE:
            raise BitstreamError(f"{src.what}: latent levels or synthesis refine out of range")
        if min(synthesis[1:] + context, default=1) < 1:
            raise BitstreamError(f"{src.what}: layer widths must be positive")
        spec = FrameSpec(
            FAMILIES[family_id], levels,
            SynthesisArch(tuple(synthesis[1:]), synthesis[0], upsample),
            ContextArch(tuple(context), bool(positional)), height, width,
        )  # fmt: skip
        if spec.network_parameters() > MAX_PARAMETERS:
            raise BitstreamError(f"{src.what}: networks larger than {MAX_PARAMETERS} weights")
        return spec


def _read_sizes(src: FieldReader, what: str) -> list[int]:
    count = src.bounded_uvarint(_MAX_LAYERS, f"{what} layer count")
    return [src.bounded_uvarint(_MAX_WIDTH, f"{what} layer size") for _ in range(count)]


class FrameModel(nn.Module):
    """Latents + synthesis + context model of one ``height x width`` frame."""

    def __init__(self, spec: FrameSpec) -> None:
        super().__init__()
        self.spec = spec
        self.height, self.width = spec.height, spec.width
        self.latents = nn.ParameterList(
            nn.Parameter(torch.empty(shape)) for shape in spec.level_shapes()
        )
        self.synthesis = Synthesis(spec.synthesis, spec.levels)
        self.context = ContextModel(spec.context, spec.levels)

    def initialize(self, generator: torch.Generator) -> None:
        """Fitting start: zero latents, random networks (see their ``initialize``)."""
        with torch.no_grad():
            for grid in self.latents:
                grid.zero_()
        self.synthesis.initialize(generator)
        self.context.initialize(generator)


def module_state(state: Mapping[str, torch.Tensor], prefix: str) -> State:
    """The tensors of one module (``"synthesis."`` or ``"context."``) of a frame state_dict,
    named as the module itself names them (prefix removed)."""
    return {n[len(prefix) :]: t for n, t in state.items() if n.startswith(prefix)}


def level_list(state: Mapping[str, torch.Tensor], levels: int) -> list[torch.Tensor]:
    """The latent grids of a state_dict, finest first."""
    return [state[f"{LATENT}{index}"] for index in range(levels)]


def level_state(latents: list[torch.Tensor]) -> State:
    """The state_dict entries of latent grids given finest first (inverse of :func:`level_list`)."""
    return {f"{LATENT}{index}": grid for index, grid in enumerate(latents)}


def render_state(model: FrameModel, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Render float32 ``[6, Hc, Wc]`` (samples ``value / 255 - 0.5``) from a full state_dict
    (``model``'s own parameters are not used)."""
    weights = module_state(state, "synthesis.")
    latents = level_list(state, model.spec.levels)
    features = synthesis_input(model.spec.synthesis, latents, weights)
    return functional_call(model.synthesis, weights, (features,))


def context_bits(
    model: FrameModel, state: Mapping[str, torch.Tensor], latents: list[torch.Tensor]
) -> torch.Tensor:
    """Estimated bits (0-d tensor) of ``latents`` (finest first) under the context model whose
    weights are in ``state``."""
    weights = module_state(state, "context.")
    return latent_bits(
        lambda c: functional_call(model.context, weights, (c,)), latents,
        positional=model.spec.context.positional,
    )  # fmt: skip


def latent_names(spec: FrameSpec) -> list[str]:
    """State_dict names of the latent levels, finest first."""
    return [f"{LATENT}{index}" for index in range(spec.levels)]


def split_state(state: Mapping[str, torch.Tensor]) -> tuple[State, State]:
    """``(latents, networks)`` parts of a frame state_dict."""
    latents = {n: t for n, t in state.items() if n.startswith(LATENT)}
    return latents, {n: t for n, t in state.items() if not n.startswith(LATENT)}
