"""Content-adaptive MS-GAT: update payloads, the encoder's rate-aware choice, never worse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmc.errors import BitstreamError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat import PostFilter
from nmc.pointcloud.msgat.adapt import adapt, psnr_gain
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.model import MSGAT
from nmc.pointcloud.msgat.update import FilterUpdate, read_filter_update, write_filter_update

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
    for bad in (bytes([3]), bytes([1, 65, 0, 0]), bytes([1, 2]), bytes([2, 9, 9])):
        with pytest.raises(BitstreamError):
            read_filter_update(bad, ref)


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
    assert rich.kind == "head" and rich.gain_db["yuv"] > 0.05
    update = read_filter_update(rich.payload, filt.reference)
    out = filt.apply(xyz, decoded, step, update=update)
    gain = psnr_gain(original, decoded, out)
    assert abs(np.array([6, 1, 1]) @ gain / 8 - rich.gain_db["yuv"]) < 1e-9
    poor = adapt(filt, xyz, original, decoded, step, 5)
    assert poor.kind == "none"
    assert poor.candidates["head"]["score"] < 0 < poor.candidates["head"]["gain_db"]["yuv"]
