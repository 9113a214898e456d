"""Content-adaptive MS-GAT: update payloads, the encoder's rate-aware choice, never worse."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from nmc.errors import BitstreamError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat import PostFilter
from nmc.pointcloud.msgat import adapt as adapt_module
from nmc.pointcloud.msgat import finetune as finetune_module
from nmc.pointcloud.msgat.adapt import adapt, psnr_gain
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.finetune import FinetuneConfig
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.golomb import exp_golomb_bits
from nmc.pointcloud.msgat.model import MSGAT
from nmc.pointcloud.msgat.stepping import NetworkStep, step_groups
from nmc.pointcloud.msgat.update import (
    ChannelUpdate,
    FilterUpdate,
    read_filter_update,
    write_filter_update,
)
from nmc.pointcloud.postfilter import update_kind

SMALL = ModelConfig(channels=8, cheb_k=2, cheb_layers=1, knn=4, heads=2)


def _filter(seed: int = 0, head_std: float = 0.0) -> PostFilter:
    torch.manual_seed(seed)
    model = MSGAT(SMALL)
    if head_std:
        torch.nn.init.normal_(model.head.weight, std=head_std)
    return PostFilter(model, StepGating.full(), PatchConfig(patch_size=256, core_size=192))


def _coded_surface(step: float = 12.0, seed: int = 0):
    """A smooth coloured surface and its colours quantized with ``step`` (a stand-in codec)."""
    rng = np.random.default_rng(seed)
    xy = np.unique(rng.integers(0, 70, size=(2500, 2)), axis=0)
    z = (8 * np.sin(xy[:, :1] / 7.0)).astype(np.int64) + 20
    xyz = np.concatenate([xy, z], axis=1).astype(np.int32)
    base = 128 + 70 * np.sin(xyz[:, :1] / 11.0) * np.cos(xyz[:, 1:2] / 6.0)
    original = np.clip(base + np.array([[0, 25, -25]]), 0, 255).astype(np.uint8)
    decoded = ycbcr_to_rgb(np.round(rgb_to_ycbcr(original) / step) * step)
    return xyz, original, decoded, np.full(len(xyz), step, np.float32)


def test_updates_round_trip_exactly():
    filt = _filter(head_std=0.3)
    ref = filt.reference
    weight = ref["head.weight"] + 0.05 * torch.randn_like(ref["head.weight"])
    bias = ref["head.bias"] + 0.1
    payload, rebuilt = write_filter_update(FilterUpdate(head=(weight, bias)), ref, 1 / 64)
    back = read_filter_update(payload, ref)
    assert back.kind == "head" and payload[0] == 2
    for a, b in zip(back.head, rebuilt.head):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.allclose(back.head[0], weight, atol=1 / 128)
    payload, rebuilt = write_filter_update(FilterUpdate(strength=(0.51, 3.0, -1.0)), ref)
    assert payload == bytes([1, 16, 64, 0]) and rebuilt.strength == (0.5, 2.0, 0.0)
    assert read_filter_update(payload, ref) == rebuilt
    assert read_filter_update(b"", ref).kind == "shipped"
    for bad in (bytes([4]), bytes([1, 65, 0, 0]), bytes([1, 2]), bytes([2, 9, 9])):
        with pytest.raises(BitstreamError):
            read_filter_update(bad, ref)


def test_per_channel_updates_round_trip_exactly():
    """Kind 3: each channel off, gated, at a strength or with a new head row; the rows are
    rebuilt bit-exactly, channels without a row keep the shipped one, damage is refused."""
    filt = _filter(head_std=0.3)
    ref = filt.reference
    row = (5, -1, 0, 0, 2, 0, 0, -300, 1)  # C = 8 weights, then the bias
    channels = (
        ChannelUpdate("head", exponent=6, levels=row),
        ChannelUpdate("off"),
        ChannelUpdate("strength", level=40),
    )
    payload, rebuilt = write_filter_update(FilterUpdate(channels=channels), ref)
    # kind, modes (head=3, off=0, strength=2 -> 0b100011), exponent, level, then the codes
    assert payload[:4] == bytes([3, 0b100011, 6, 40])
    assert len(payload) == 4 + -(-exp_golomb_bits(np.array(row)) // 8)
    back = read_filter_update(payload, ref)
    assert back.kind == "channels" and back.channels == channels
    for a, b in zip(back.head, rebuilt.head):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    expected = ref["head.weight"][0] + torch.tensor(row[:-1], dtype=torch.float32) / 64
    torch.testing.assert_close(back.head[0][0], expected, rtol=0, atol=0)
    torch.testing.assert_close(back.head[1][0], ref["head.bias"][0] + 1 / 64, rtol=0, atol=0)
    torch.testing.assert_close(back.head[0][1:], ref["head.weight"][1:], rtol=0, atol=0)
    gated = np.full((2, 3), 0.25, np.float32)
    assert np.all(back.strengths(gated) == [1.0, 0.0, 1.25])
    mixed = (ChannelUpdate("gated"), ChannelUpdate("gated"), ChannelUpdate("off"))
    assert np.all(FilterUpdate(channels=mixed).strengths(gated) == [0.25, 0.25, 0.0])
    damaged = (
        bytes([3, 0b11000000]),  # top bits of the modes byte
        bytes([3, 0b10, 65]),  # strength level above 64
        bytes([3, 0b11, 25, 0xFF, 0xFF]),  # head exponent above 24
        payload[:-1],  # a truncated row
        payload + b"\x00",  # a byte after the rows
        bytes([3, 0b11, 0]) + b"\xff\xff",  # a row of 9 zeros-as-ones then set padding
    )
    for bad in damaged:
        with pytest.raises(BitstreamError):
            read_filter_update(bad, ref)
    with pytest.raises(ValueError):
        ChannelUpdate("strength", level=65)


def test_strengths_replace_the_gating_and_a_head_runs_at_full_strength():
    gated = np.full((4, 3), 0.25, np.float32)
    assert np.all(FilterUpdate().strengths(gated) == 0.25)
    assert np.all(FilterUpdate(strength=(1.0, 0.0, 2.0)).strengths(gated) == [1.0, 0.0, 2.0])
    head = (torch.zeros(3, 8), torch.zeros(3))
    assert np.all(FilterUpdate(head=head).strengths(gated) == 1.0)


def test_a_harmful_filter_is_switched_off():
    """The encoder measures what the decoder will output: a filter that only adds noise and
    cannot be fixed by the update's bits is not used (never worse than unfiltered)."""
    xyz, original, decoded, step = _coded_surface()
    choice = adapt(_filter(head_std=2.0), xyz, original, decoded, step, 200, kinds=("shipped",))
    assert choice.kind == "none" and choice.payload == b""
    assert choice.candidates["shipped"]["gain_db"]["yuv"] < 0


def test_a_refitted_head_pays_when_the_rate_is_large():
    """The untrained head is the identity; least squares on its features finds a real gain,
    which is worth its bits on a cloud of many attribute bits and not on one of few."""
    xyz, original, decoded, step = _coded_surface()
    filt = _filter(seed=1)
    rich = adapt(filt, xyz, original, decoded, step, 10**7)
    assert rich.kind == "channels" and rich.gain_db["yuv"] > 0.05
    update = read_filter_update(rich.payload, filt.reference)
    out = filt.apply(xyz, decoded, step, update=update)
    gain = psnr_gain(original, decoded, out)
    assert abs(np.array([6, 1, 1]) @ gain / 8 - rich.gain_db["yuv"]) < 1e-9
    poor = adapt(filt, xyz, original, decoded, step, 5)
    assert poor.kind == "none"
    assert poor.candidates["channels"]["score"] < 0


def test_a_channel_the_shipped_head_harms_is_switched_off_alone():
    """A shipped head whose Cr row only adds noise while its luma row helps: the per-channel
    update keeps luma filtered and does not filter Cr the shipped way, which scores better
    than filtering every channel the shipped way."""
    xyz, original, decoded, step = _coded_surface()
    filt = _filter(seed=2)
    with torch.no_grad():
        fitted = adapt(filt, xyz, original, decoded, step, 10**7, kinds=("channels",))
        luma = read_filter_update(fitted.payload, filt.reference).head
        filt.model.head.weight[0] = luma[0][0]
        filt.model.head.bias[0] = luma[1][0]
        filt.model.head.weight[2].normal_(std=3.0)
    filt = PostFilter(filt.model, StepGating.full(), filt.patches)
    shipped = adapt(filt, xyz, original, decoded, step, 10**5, kinds=("shipped",))
    choice = adapt(filt, xyz, original, decoded, step, 10**5, kinds=("channels",))
    assert shipped.candidates["shipped"]["gain_db"]["v"] < 0 < choice.gain_db["y"]
    channels = read_filter_update(choice.payload, filt.reference).channels
    assert channels[2].mode != "gated" and choice.gain_db["v"] >= -0.01
    assert choice.candidates["channels"]["score"] > shipped.candidates["shipped"]["score"]


def _network_update(filt: PostFilter) -> tuple[NetworkStep, FilterUpdate]:
    groups = step_groups(filt.reference)
    rng = np.random.default_rng(0)
    levels = tuple(
        rng.integers(-3, 4, g.size) if i % 3 == 0 else None for i, g in enumerate(groups)
    )
    inner = FilterUpdate(
        channels=(
            ChannelUpdate("head", exponent=6, levels=(1, 0, 0, -2, 0, 0, 0, 0, 3)),
            ChannelUpdate("gated"),
            ChannelUpdate("off"),
        )
    )
    return NetworkStep(5, levels), inner


def test_network_steps_round_trip_exactly():
    """Kind 4 (version 5): row and column scales and deltas of the network's groups, rebuilt
    bit-exactly as integers times 2^-e, with a per-channel head update on top; refused in
    streams of earlier versions."""
    filt = _filter(head_std=0.3)
    ref = filt.reference
    network, inner = _network_update(filt)
    payload, rebuilt = write_filter_update(dataclasses.replace(inner, network=network), ref)
    assert payload[0] == 4 and update_kind(payload) == "network"
    back = read_filter_update(payload, ref)
    assert back.kind == "network" and back.network == network
    assert back.channels == inner.channels
    assert sorted(back.weights) == sorted(rebuilt.weights)
    for name, value in rebuilt.weights.items():
        torch.testing.assert_close(back.weights[name], value, rtol=0, atol=0)
    groups = step_groups(ref)
    for group, q in zip(groups, network.levels):
        if q is None:
            continue
        scale = 1 + torch.from_numpy(q).float() / 32
        old, new = ref[group.tensor], back.weights[group.tensor]
        if group.mode == "rows":
            torch.testing.assert_close(new, old * scale[:, None], rtol=0, atol=0)
        elif group.mode == "delta":
            torch.testing.assert_close(new, old + (scale - 1).reshape(old.shape), rtol=0, atol=0)
    inner_bytes = len(write_filter_update(inner, ref)[0])
    assert -(-network.bits() // 8) == len(payload) - 2 - inner_bytes  # kind, blob length
    with pytest.raises(BitstreamError):
        read_filter_update(payload, ref, network=False)
    xyz, _, decoded, step = _coded_surface()
    stepped = filt.apply(xyz, decoded, step, update=back)
    shipped = filt.apply(xyz, decoded, step, update=dataclasses.replace(back, weights=None))
    assert np.any(stepped != shipped)


def test_damaged_network_updates_raise_only_bitstream_error():
    filt = _filter(head_std=0.3)
    ref = filt.reference
    network, inner = _network_update(filt)
    payload, _ = write_filter_update(dataclasses.replace(inner, network=network), ref)
    rng = np.random.default_rng(3)
    for i in range(1500):
        if i % 2:
            damaged = payload[: int(rng.integers(0, len(payload)))]
        else:
            mutable = bytearray(payload)
            for _ in range(int(rng.integers(1, 4))):
                mutable[int(rng.integers(0, len(mutable)))] ^= int(rng.integers(1, 256))
            damaged = bytes(mutable)
        with contextlib.suppress(BitstreamError):
            read_filter_update(damaged, ref)
    for bad in (
        bytes([4, 0, 25]),  # step exponent above 24
        bytes([4, 2, 2, 0, 5]) + b"\xff" * 16,  # inner kind 2 (a whole head)
        bytes([4, 1, 4, 5]),  # a network step inside a network step
        payload + b"\x00",  # a byte after the step
    ):
        with pytest.raises(BitstreamError):
            read_filter_update(bad, ref)


def test_the_encoder_measures_a_network_step_as_the_decoder_applies_it():
    """With the rate of a large cloud the encoder fine-tunes the network; whatever it
    chooses, the decoder's output from the payload has exactly the measured gain."""
    xyz, original, decoded, step = _coded_surface()
    filt = _filter(seed=1, head_std=0.05)
    config = FinetuneConfig(epochs=2, exponents=(5,))
    choice = adapt(filt, xyz, original, decoded, step, 10**7, finetune=config)
    assert "network" in choice.candidates
    update = read_filter_update(choice.payload, filt.reference)
    out = filt.apply(xyz, decoded, step, update=update)
    gain = psnr_gain(original, decoded, out)
    assert abs(np.array([6, 1, 1]) @ gain / 8 - choice.gain_db["yuv"]) < 1e-9
    assert finetune_module.DB_PER_LOG_RATE is adapt_module.DB_PER_LOG_RATE  # one slope
    small = adapt(filt, xyz, original, decoded, step, 3000, finetune=config)
    assert "network" not in small.candidates  # too few attribute bits to be worth it
