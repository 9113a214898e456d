"""Latents, their context model and the network coder: exact round trips, causal decode order,
damaged payloads."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nmc.entropy.stream import StreamReader, StreamWriter
from nmc.errors import BitstreamError
from nmc.video.context import (
    ContextArch,
    ContextModel,
    laplace_bits,
    latent_bits,
    level_context,
    pass_positions,
    raster_visibility,
)
from nmc.video.latent_coder import read_latents, write_latents
from nmc.video.latents import (
    NUM_PHASES,
    bicubic_kernel,
    learned_upsample,
    level_shapes,
    neighbour_visibility,
    phase_map,
    upsample_levels,
)
from nmc.video.network_coder import decode_networks, encode_networks


def _context(seed: int = 0, positional_levels: int = 0) -> ContextModel:
    """A 12-12 context model; positional (phase and level inputs) for ``positional_levels``
    levels when that is not 0."""
    arch = ContextArch((12, 12), positional=positional_levels > 0)
    model = ContextModel(arch, max(positional_levels, 1))
    generator = torch.Generator().manual_seed(seed)
    model.initialize(generator)
    with torch.no_grad():  # a non-trivial last layer, so laws vary with the context
        model.layers[-1].weight.copy_(torch.randn(2, 12, generator=generator) * 0.3)
    return model


def _latents(shapes, seed: int = 0) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    grids = []
    for index, shape in enumerate(shapes):
        spread = 0.5 + index
        grids.append(torch.from_numpy(np.clip(np.round(rng.laplace(0, spread, shape)), -31, 31)))
    return [g.float() for g in grids]


def _encode(context: ContextModel, latents, present=None) -> tuple[bytes, int, float]:
    """The latents alone in a stream: ``(stream, symbols, ideal bits)``."""
    writer = StreamWriter()
    write_latents(writer, context, latents, present)
    return writer.finish(), writer.symbols, writer.bits


def _decode(coded: tuple[bytes, int, float], context: ContextModel, shapes, present=None):
    data, symbols, _ = coded
    reader = StreamReader(data, symbols, "latents")
    latents = read_latents(reader, context, shapes, present)
    assert reader.remaining == 0
    return latents


def test_levels_cover_odd_frames():
    assert level_shapes(27, 35, 4) == [(28, 36), (14, 18), (7, 9), (4, 5)]
    phases = phase_map(3, 3)
    assert phases.tolist() == [[0, 2, 0], [3, 1, 3], [0, 2, 0]]


def test_latents_round_trip_exactly():
    shapes = level_shapes(27, 35, 5)
    latents, model = _latents(shapes), _context()
    coded = _encode(model, latents)
    back = _decode(coded, model, shapes)
    assert all(torch.equal(a, b) for a, b in zip(latents, back))
    # The stream costs its ideal bits plus one flush, and they are what the context model
    # says, within the table quantization.
    data, _, bits = coded
    assert bits <= 8 * len(data) <= bits + 96
    estimate = 0.0
    with torch.no_grad():
        for index, level in enumerate(latents):
            coarser = latents[index + 1] if index + 1 < len(latents) else None
            mu, scale = model(level_context(level, coarser))
            estimate += float(laplace_bits(level.reshape(-1), mu, scale).sum())
    assert bits < estimate * 1.05 + 64


@pytest.mark.parametrize("size", [(27, 35, 4), (144, 176, 7), (8, 60, 3), (10, 10, 1)])
def test_one_canvas_gives_the_bits_of_each_level_and_the_gradients(size):
    """The fit's one-pass rate (every level on one canvas) equals the level-by-level sum of
    the decoder's contexts, in both decode orders, and passes gradients to every level."""
    latents, model = _latents(level_shapes(*size), seed=6), _context(1)
    for visibility in (neighbour_visibility, raster_visibility):
        with torch.no_grad():
            each = sum(
                float(laplace_bits(level.reshape(-1), *model(level_context(
                    level, latents[i + 1] if i + 1 < len(latents) else None, visibility
                ))).sum())
                for i, level in enumerate(latents)
            )  # fmt: skip
        leaves = [g.clone().requires_grad_(True) for g in latents]
        bits = latent_bits(model, leaves, visibility)
        assert float(bits.detach()) == pytest.approx(each, rel=1e-5)
    bits.backward()
    assert all(float(g.grad.abs().sum()) > 0 for g in leaves)


@pytest.mark.parametrize("size", [(27, 35, 4), (144, 176, 7)])
def test_positional_model_sees_each_pass_and_round_trips(size):
    """A positional context model (header version 7): the fit's canvas gives the bits of the
    decoder's passes (each with its one-hot phase and level), the stream decodes exactly, and
    the positional inputs change the laws."""
    shapes = level_shapes(*size)
    latents, model = _latents(shapes, seed=8), _context(2, positional_levels=len(shapes))
    with torch.no_grad():
        each = 0.0
        for level, grid in enumerate(latents):
            coarser = latents[level + 1] if level + 1 < len(latents) else None
            context = level_context(grid, coarser)
            phases = phase_map(*grid.shape).reshape(-1)
            for phase in range(NUM_PHASES):
                mine = torch.nonzero(phases == phase).reshape(-1)
                rows = pass_positions(len(shapes), level, phase, len(mine), context)
                laws = model(torch.cat([context[:, mine], rows]))
                each += float(laplace_bits(grid.reshape(-1)[mine], *laws).sum())
    leaves = [g.clone().requires_grad_(True) for g in latents]
    bits = latent_bits(model, leaves, positional=True)
    assert float(bits.detach()) == pytest.approx(each, rel=1e-5)
    bits.backward()
    assert all(float(g.grad.abs().sum()) > 0 for g in leaves)
    coded = _encode(model, latents)
    assert all(torch.equal(a, b) for a, b in zip(latents, _decode(coded, model, shapes)))
    assert coded[2] == pytest.approx(each, rel=0.03)
    with torch.no_grad():  # other weights on the level inputs give other laws
        model.layers[0].weight[:, -len(shapes) :] += 1.0
        moved = float(latent_bits(model, latents, positional=True))
    assert moved != pytest.approx(each, rel=1e-3)


def test_upsampling_matrices_are_torch_bicubic():
    latents = _latents(level_shapes(27, 35, 4), seed=7)
    size = tuple(latents[0].shape)
    expected = torch.cat([
        F.interpolate(g[None, None], size=size, mode="bicubic", align_corners=False)
        for g in latents
    ], dim=1)  # fmt: skip
    assert torch.allclose(upsample_levels(latents, size), expected, atol=1e-5)


def test_learned_upsampling_starts_bicubic_and_learns_per_stage():
    """With bicubic kernels a 2x stage is torch's bicubic 2x upsampling; coarser levels pass
    through every finer stage, so a kernel moves the levels that use it, and only those."""
    latents = _latents(level_shapes(27, 35, 4), seed=7)  # 28x36, 14x18, 7x9, 4x5
    kernels = bicubic_kernel(8).repeat(3, 1).requires_grad_(True)
    planes = learned_upsample(latents, kernels)
    assert planes.shape == (1, 4, 28, 36)
    assert torch.equal(planes[0, 0], latents[0])
    level_1 = F.interpolate(latents[1][None, None], scale_factor=2, mode="bicubic",
                            align_corners=False)[0, 0]  # fmt: skip
    assert torch.allclose(planes[0, 1], level_1, atol=1e-5)
    planes[0, 2].sum().backward()  # level 2 passes through stages 2 and 1, not 3
    assert kernels.grad[:2].abs().sum(dim=1).min() > 0 and kernels.grad[2].abs().sum() == 0
    constant = learned_upsample([torch.full(s, 3.0) for s in level_shapes(27, 35, 4)], kernels)
    assert torch.allclose(constant, torch.full_like(constant, 3.0))  # bicubic sums to one


def test_context_is_causal_in_decode_order():
    """A position's context never reads a latent of its own or a later phase."""
    level, coarser = _latents([(9, 11), (5, 6)], seed=3)
    phases = phase_map(9, 11).reshape(-1)
    full = level_context(level, coarser)
    for phase in range(NUM_PHASES):
        hidden = level.clone().reshape(-1)
        hidden[phases >= phase] = 99.0  # not decoded yet: any value
        partial = level_context(hidden.reshape(9, 11), coarser)
        mine = phases == phase
        assert torch.equal(partial[:, mine], full[:, mine])


def test_damaged_latent_payload_is_refused_or_decodes():
    shapes = level_shapes(16, 16, 3)
    latents, model = _latents(shapes), _context()
    data, symbols, bits = _encode(model, latents)
    rng = np.random.default_rng(1)
    for _ in range(40):
        damaged = bytearray(data)
        damaged[rng.integers(len(data))] ^= int(rng.integers(1, 256))
        with contextlib.suppress(BitstreamError):
            _decode((bytes(damaged), symbols, bits), model, shapes)
    with contextlib.suppress(BitstreamError):
        _decode((data[:3], symbols, bits), model, shapes)
    with pytest.raises(BitstreamError, match="more symbols than"):
        _decode((data, symbols - 1, bits), model, shapes)


def test_networks_round_trip_and_refuse_damage():
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "synthesis.mlp.0.weight": torch.randn(16, 7, 1, 1, generator=generator),
        "synthesis.mlp.0.bias": torch.randn(16, generator=generator) * 0.01,
        "context.layers.0.weight": torch.randn(12, 17, generator=generator) * 5,
    }
    exponents = {"synthesis.": 7, "context.": 5}
    payload, recon = encode_networks(tensors, exponents)
    back = decode_networks(payload, {n: tuple(t.shape) for n, t in tensors.items()})
    for name, tensor in tensors.items():
        assert torch.equal(back[name], recon[name])
        step = 2.0 ** -exponents["context." if name.startswith("context.") else "synthesis."]
        assert float((recon[name] - tensor).abs().max()) <= step / 2
    shapes = {n: tuple(t.shape) for n, t in tensors.items()}
    with pytest.raises(BitstreamError, match="exponent"):
        decode_networks(b"\xff" + payload[1:], shapes)
    for cut in (0, 1, 4, len(payload) // 2):
        with contextlib.suppress(BitstreamError):
            decode_networks(payload[:cut], shapes)


def test_networks_coded_against_a_base_cost_little_near_it():
    generator = torch.Generator().manual_seed(1)
    base = {"synthesis.mlp.0.weight": torch.randn(16, 7, 1, 1, generator=generator),
            "context.layers.0.weight": torch.randn(12, 17, generator=generator)}  # fmt: skip
    near = {n: t + 0.003 * torch.randn(t.shape, generator=generator) for n, t in base.items()}
    exponents = {"synthesis.": 7, "context.": 7}
    shapes = {n: tuple(t.shape) for n, t in base.items()}
    payload, recon = encode_networks(near, exponents, base)
    absolute, _ = encode_networks(near, exponents)
    assert len(payload) < len(absolute) / 3
    back = decode_networks(payload, shapes, base)
    for name, tensor in near.items():
        assert torch.equal(back[name], recon[name])
        assert float((recon[name] - tensor).abs().max()) <= 2.0**-8
    # Decoded against the wrong base, the same payload gives other weights.
    assert not torch.equal(decode_networks(payload, shapes)["context.layers.0.weight"],
                           recon["context.layers.0.weight"])  # fmt: skip


def test_levels_left_out_cost_nothing_and_must_be_zero():
    shapes = level_shapes(16, 20, 3)
    latents, model = _latents(shapes, seed=5), _context()
    latents[0] = torch.zeros(shapes[0])
    coded = _encode(model, latents, present=0b110)
    assert coded[2] < _encode(model, latents)[2]
    back = _decode(coded, model, shapes, present=0b110)
    assert all(torch.equal(a, b) for a, b in zip(latents, back))
    with pytest.raises(ValueError, match="must be zero"):
        _encode(model, _latents(shapes), present=0b110)


def test_raster_order_sees_only_the_causal_half():
    level, coarser = _latents([(6, 7), (3, 4)], seed=4)
    context = level_context(level, coarser, raster_visibility)
    same = context[9:].T.reshape(6, 7, 8)
    assert torch.equal(same[..., 4:], torch.zeros(6, 7, 4))  # right, down-left, down, down-right
    assert float(same[3, 3, 1]) == float(level[2, 3])  # the latent above
