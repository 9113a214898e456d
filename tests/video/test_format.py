"""Codec header and config: round trips, limits, and damaged headers -> BitstreamError only."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import numpy as np
import pytest

from nmc.errors import BitstreamError, InputError
from nmc.video.config import config_for
from nmc.video.conv import ConvArch
from nmc.video.format import VideoHeader
from nmc.video.mlp import MlpArch
from nmc.video.networks import NetSpec


def _header(family: str = "conv") -> VideoHeader:
    arch = ConvArch(8, (16, 12, 8)) if family == "conv" else MlpArch(48, 64, 3)
    spec = NetSpec(family, arch, 144, 176)
    return VideoHeader(spec, 30, Fraction(30000, 1001), 30, "lowrank", 2, 4, "yuv420p", 5)


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_header_round_trip(family):
    header = _header(family)
    assert VideoHeader.from_bytes(header.to_bytes()) == header
    assert header.kind_of(0) == "IFRM" and header.kind_of(29) == "PFRM"


def test_damaged_headers_raise_bitstream_error_only():
    data = _header().to_bytes()
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            VideoHeader.from_bytes(data[:cut])
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(data)
        damaged[rng.integers(len(data))] = rng.integers(256)
        with contextlib.suppress(BitstreamError):
            VideoHeader.from_bytes(bytes(damaged))


def test_oversized_network_is_refused_before_allocation():
    spec = NetSpec("conv", ConvArch(4000, (4000, 4000)), 64, 64)
    header = VideoHeader(spec, 1, Fraction(25), 1, "all", 0, 0, "yuv420p", 0)
    with pytest.raises(BitstreamError, match="larger than"):
        VideoHeader.from_bytes(header.to_bytes())


def test_quality_ladder_and_overrides():
    steps = [config_for("conv", q).intra_step for q in range(1, 9)]
    assert steps == sorted(steps, reverse=True)
    custom = config_for("mlp", 3, steps=7, lam=0.5)
    assert custom.steps == 7 and custom.lam == 0.5 and custom.quality == 0
    assert config_for("mlp", 3, steps=7).quality == 3
    with pytest.raises(InputError, match="unknown encoder setting"):
        config_for("conv", 3, colour="red")
    with pytest.raises(InputError, match="gop"):
        config_for("conv", 3, gop=0)
    with pytest.raises(InputError, match="needs a ConvArch"):
        config_for("conv", 3, arch=MlpArch())
