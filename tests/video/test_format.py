"""Codec header and config: round trips, limits, old versions and damaged headers."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from nmc.bitstream import FieldWriter
from nmc.errors import BitstreamError, InputError
from nmc.video.config import config_for
from nmc.video.context import ContextArch
from nmc.video.format import VideoHeader
from nmc.video.frame_model import FrameSpec
from nmc.video.prior import PRIOR_HIGH_RATE, PRIOR_SHIPPED
from nmc.video.synthesis import SynthesisArch

# Bytes of a header after its prior byte: motion block, quality, pixel format, start frame.
_TAIL = len(FieldWriter().u8(4).u8(4).text("yuv420p").uvarint(5).getvalue())


def _header(family: str = "conv") -> VideoHeader:
    spec = config_for(family, 4).frame_spec(144, 176)
    return VideoHeader(spec, 30, Fraction(30000, 1001), 30, 4, "yuv420p", 5)


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_header_round_trip(family):
    header = _header(family)
    assert VideoHeader.from_bytes(header.to_bytes()) == header
    assert header.kind_of(0) == "IFRM" and header.kind_of(29) == "PFRM"
    assert (header.spec.synthesis.refine > 0) == (family == "conv")


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


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_old_versions_are_refused_naming_both_versions(version):
    old = FieldWriter().u8(version).uvarint(176).uvarint(144).getvalue()
    with pytest.raises(
        BitstreamError, match=f"version {version} is not supported.*versions 6 to 9"
    ):
        VideoHeader.from_bytes(old)


def test_version_6_to_8_headers_read_as_the_shapes_of_their_time():
    """Version 7 added one byte after the context model's widths (its positional inputs) and
    version 8 one after it (the upsampling kernels' taps); older headers are the same without
    them, and their upsampling is the fixed bicubic one. Version 9 only added prior ids."""
    header = _header()
    data = header.to_bytes()
    assert VideoHeader.from_bytes(bytes([8]) + data[1:]) == header
    tail = _TAIL + 1  # and the prior byte
    flags = slice(-tail - 2, -tail)
    assert data[0] == 9 and data[flags] == bytes([1, header.spec.synthesis.upsample]) != b"\1\0"
    bicubic = replace(header.spec.synthesis, upsample=0)
    seven = bytes([7]) + data[1 : -tail - 1] + data[-tail:]
    assert VideoHeader.from_bytes(seven).spec == replace(header.spec, synthesis=bicubic)
    six = bytes([6]) + data[1 : -tail - 2] + data[-tail:]
    spec = VideoHeader.from_bytes(six).spec
    assert spec.context == replace(header.spec.context, positional=False)
    assert spec.synthesis == bicubic
    assert replace(VideoHeader.from_bytes(six), spec=header.spec) == header


def test_unknown_upsampling_taps_are_refused():
    data = bytearray(_header().to_bytes())
    data[-_TAIL - 2] = 5  # the taps, before the prior byte
    with pytest.raises(BitstreamError, match="upsampling kernel taps 5"):
        VideoHeader.from_bytes(bytes(data))


def test_unknown_prior_is_refused():
    data = bytearray(replace(_header(), prior=PRIOR_SHIPPED).to_bytes())
    data[-_TAIL - 1] = 9
    with pytest.raises(BitstreamError, match="unknown network prior id 9"):
        VideoHeader.from_bytes(bytes(data))
    data[-_TAIL - 1] = PRIOR_HIGH_RATE  # a version 9 id, unknown to version 8
    assert VideoHeader.from_bytes(bytes(data)).prior == PRIOR_HIGH_RATE
    with pytest.raises(BitstreamError, match=f"unknown network prior id {PRIOR_HIGH_RATE}"):
        VideoHeader.from_bytes(bytes([8]) + bytes(data[1:]))
    data[-_TAIL - 1] = PRIOR_SHIPPED
    data[-_TAIL] = 7  # a motion block of 128 pixels
    with pytest.raises(BitstreamError, match="motion block 128 not supported"):
        VideoHeader.from_bytes(bytes(data))


def test_oversized_network_is_refused_before_allocation():
    spec = FrameSpec("conv", 7, SynthesisArch((250, 250, 250), 2), ContextArch((250, 250)),
                     64, 64)  # fmt: skip
    header = VideoHeader(spec, 1, Fraction(25), 1, 0, "yuv420p", 0)
    with pytest.raises(BitstreamError, match="larger than"):
        VideoHeader.from_bytes(header.to_bytes())


def test_quality_ladder_presets_and_overrides():
    lambdas = [config_for("conv", q).lam for q in range(1, 9)]
    assert lambdas == sorted(lambdas, reverse=True)
    for name in ("lr", "update_lr"):  # faster fits where the rate is high
        rates = [getattr(config_for("mlp", q), name) for q in range(1, 9)]
        assert rates == sorted(rates) and rates[-1] > rates[0]
    assert config_for("conv", 8, lr=0.005).lr == 0.005
    steps = [config_for("conv", 4, preset=p).intra_steps for p in ("fast", "medium", "slow")]
    assert steps == sorted(steps) and config_for("mlp", 4).preset == "medium"
    custom = config_for("mlp", 3, steps=7, lam=0.5)
    assert custom.steps == 7 and custom.lam == 0.5 and custom.quality == 0
    assert config_for("mlp", 3, steps=7).quality == 3
    with pytest.raises(InputError, match="unknown encoder setting"):
        config_for("conv", 3, colour="red")
    with pytest.raises(InputError, match="gop"):
        config_for("conv", 3, gop=0)
    with pytest.raises(InputError, match="preset"):
        config_for("conv", 3, preset="placebo")
    assert config_for("conv", 3, inter_lam=2.0).quality == 0
    with pytest.raises(InputError, match="inter_lam"):
        config_for("conv", 3, inter_lam=0.0)
