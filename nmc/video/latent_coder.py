"""Entropy coding of a frame's integer latents with its context model (runs of a shared stream).

Decode order (:mod:`nmc.video.latents`): coarsest level first, four phases per level; each
pass gathers the whole level's context, evaluates the context model (float64, one thread) on
the positions of its phase and codes them with the Laplace law the model predicts
(:class:`LaplaceBank`: 64 scales x 16 mean offsets). Float64 keeps table choices identical
across machines unless a predicted ``mu`` or ``log b`` lands within ~1e-13 of a bin edge.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from nmc.entropy.laplace import LaplaceBank
from nmc.entropy.stream import StreamReader, SymbolSink
from nmc.errors import BitstreamError
from nmc.video.context import MAX_SCALE, MIN_SCALE, ContextModel, level_context, pass_positions
from nmc.video.latents import MAX_LATENT, NUM_PHASES, phase_map

BANK = LaplaceBank(MIN_SCALE, MAX_SCALE, scale_bins=64, offsets=16, half=2 * MAX_LATENT + 1)


def _passes(shapes: list[tuple[int, int]], present: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(level, phase, positions)`` in decode order for the levels whose bit is set in
    ``present``; positions are flat int64 indices."""
    for level in reversed(range(len(shapes))):
        if not present >> level & 1:
            continue
        phases = phase_map(*shapes[level]).reshape(-1)
        for phase in range(NUM_PHASES):
            yield level, phase, torch.nonzero(phases == phase).reshape(-1)


def _laws(
    model: ContextModel, grids: list[torch.Tensor], level: int, phase: int,
    positions: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    coarser = grids[level + 1] if level + 1 < len(grids) else None
    context = level_context(grids[level], coarser)[:, positions]
    if model.arch.positional:
        rows = pass_positions(model.levels, level, phase, len(positions), context)
        context = torch.cat([context, rows])
    mu, scale = model(context)
    return BANK.choose(mu.numpy(), scale.numpy())


def write_latents(
    sink: SymbolSink, context: ContextModel, latents: list[torch.Tensor], present: int | None = None
) -> None:
    """Append integer-valued latents (float ``[h_l, w_l]``, finest first, values in
    ``[-MAX_LATENT, MAX_LATENT]``) coded with the (already quantized) ``context`` model to a
    shared stream (:mod:`nmc.entropy.stream`).

    ``present``: bit ``l`` set = level ``l`` is coded (default all); the others must be zero
    and cost nothing (the decoder knows them to be zero).
    """
    grids = [g.detach().to(torch.float64) for g in latents]
    present = (1 << len(grids)) - 1 if present is None else present
    if any(g.abs().max() > 0 for i, g in enumerate(grids) if not present >> i & 1):
        raise ValueError("a level left out of the stream must be zero")
    if any(g.abs().max() > MAX_LATENT or not torch.equal(g, g.round()) for g in grids):
        raise ValueError(f"latents must be integers in [-{MAX_LATENT}, {MAX_LATENT}]")
    model = copy.deepcopy(context).to(torch.float64)
    with torch.no_grad():
        for level, phase, positions in _passes([tuple(g.shape) for g in grids], present):
            base, index = _laws(model, grids, level, phase, positions)
            values = grids[level].reshape(-1)[positions].numpy().astype(np.int64)
            BANK.write(sink, values, base, index)


def read_latents(
    reader: StreamReader, context: ContextModel, shapes: list[tuple[int, int]],
    present: int | None = None,
) -> list[torch.Tensor]:  # fmt: skip
    """The latents (float32 ``[h_l, w_l]``, finest first) :func:`write_latents` appended with
    the same ``present`` mask; damaged data raises :class:`BitstreamError`."""
    grids = [torch.zeros(shape, dtype=torch.float64) for shape in shapes]
    present = (1 << len(shapes)) - 1 if present is None else present
    model = copy.deepcopy(context).to(torch.float64)
    with torch.no_grad():
        for level, phase, positions in _passes(shapes, present):
            values = BANK.read(reader, *_laws(model, grids, level, phase, positions))
            if values.size and np.abs(values).max() > MAX_LATENT:
                raise BitstreamError("latents payload: a latent is out of range (damaged data)")
            grids[level].view(-1)[positions] = torch.from_numpy(values.astype(np.float64))
    return [g.float() for g in grids]
