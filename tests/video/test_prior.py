"""Shipped network priors: I-frame networks coded as a step from them, the residual context
model of older streams, and the header's record of which prior a stream needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nmc.errors import BitstreamError
from nmc.video import Video, VideoDecoder, config_for, encode_video
from nmc.video import prior as prior_module
from nmc.video.context import ContextArch
from nmc.video.prior import (
    PRIOR_HIGH_RATE,
    PRIOR_LOW_RATE,
    PRIOR_NONE,
    PRIOR_SHIPPED,
    PRIOR_SHIPPED_NETWORKS,
    encoder_prior,
    shipped_prior,
    signature,
)
from nmc.video.synthesis import SynthesisArch
from tests.video.conftest import FAST

ONE_FRAME = {"intra_steps": FAST["intra_steps"], "steps": FAST["steps"]}
# Written by nmc before session 18 (header prior id 1: P frames' residual latents under the
# shipped residual context model): carphone frames 0, 20, 40 cropped to 37 x 51, conv q4, gop 3,
# a P frame that keeps residual latents; and the planes that nmc decoded from it.
LEGACY = Path(__file__).parent / "data" / "header6_prior1_conv_q4"
# Written by nmc in session 19 (header version 7: fixed bicubic upsampling of the latents):
# carphone frames 0, 20, 40 cropped to 37 x 51, mlp q6, gop 3 (I, P, and a scene-cut I frame);
# and the planes that nmc decoded from it.
VERSION_7 = Path(__file__).parent / "data" / "header7_prior2_mlp_q6"
# Written by nmc in session 20 (header version 8: one shipped prior per network shape, id 2):
# carphone frames 0, 20, 40 cropped to 37 x 51, conv q7, gop 3; and the planes it decoded to.
VERSION_8 = Path(__file__).parent / "data" / "header8_prior2_conv_q7"


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_default_shapes_have_a_prior_and_custom_ones_none(family):
    spec = config_for(family).frame_spec(144, 176)
    prior = shipped_prior(spec)
    assert prior is not None, f"nmc ships no prior for {signature(spec)}"
    assert all(n.startswith(("synthesis.", "context.")) for n in prior.networks)
    assert all(torch.isfinite(t).all() for t in prior.networks.values())
    assert prior.residual_context is None  # nmc codes residual latents with the I frame's model
    # Version-6 streams (context models without positional inputs) step from the prior of
    # their shape, and those with header prior id 1 code residual latents with its residual
    # context model: the file keeps both.
    blind = replace(spec, context=replace(spec.context, positional=False),
                    synthesis=replace(spec.synthesis, upsample=0))  # fmt: skip
    legacy = shipped_prior(blind)
    assert legacy is not None and signature(blind) != signature(spec)
    assert set(legacy.residual_context) == {n for n in legacy.networks if "context." in n}
    inputs = [p.networks["context.layers.0.weight"].shape[1] for p in (legacy, prior)]
    assert inputs == [17, 17 + 4 + spec.levels]
    # Version-7 streams (fixed bicubic upsampling) step from the prior of their shape.
    assert spec.synthesis.upsample > 0 and prior.networks["synthesis.upsample"].ndim == 2
    bicubic = replace(spec, synthesis=replace(spec.synthesis, upsample=0))
    assert "synthesis.upsample" not in shipped_prior(bicubic).networks
    custom = config_for(family, synthesis=SynthesisArch((5,), 0)).frame_spec(144, 176)
    assert shipped_prior(custom) is None


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_each_half_of_the_ladder_steps_from_its_own_prior(family):
    """Qualities 1-4 step from the prior trained at low rates, 5-8 from the one trained at high
    rates (header version 9); a shape without them falls back to its whole-ladder prior, and
    one without any codes against zero."""
    spec = config_for(family).frame_spec(144, 176)
    chosen = {q: encoder_prior(spec, config_for(family, q).lam) for q in range(1, 9)}
    assert [chosen[q][0] for q in range(1, 9)] == [PRIOR_LOW_RATE] * 4 + [PRIOR_HIGH_RATE] * 4
    whole = shipped_prior(spec).networks["context.layers.2.weight"]
    low, high = (chosen[q][1].networks["context.layers.2.weight"] for q in (1, 8))
    assert not torch.equal(low, high) and not torch.equal(low, whole)
    assert all(prior.residual_context is None for _, prior in chosen.values())
    bicubic = replace(spec, synthesis=replace(spec.synthesis, upsample=0))
    assert encoder_prior(bicubic, 1e-2)[0] == PRIOR_SHIPPED_NETWORKS
    custom = config_for(family, synthesis=SynthesisArch((5,), 0)).frame_spec(144, 176)
    assert encoder_prior(custom, 1e-2) == (PRIOR_NONE, None)


def test_prior_cuts_network_bits_and_streams_record_it(clip):
    first = clip.slice(0, 1)
    with_prior, report = encode_video(first, config_for("conv", 4, **ONE_FRAME), progress=False)
    without, plain = encode_video(
        first, config_for("conv", 4, prior=False, **ONE_FRAME), progress=False
    )
    assert VideoDecoder(with_prior).header.prior == PRIOR_LOW_RATE
    assert VideoDecoder(without).header.prior == PRIOR_NONE
    bits = report["bits_by_part"]["networks"], plain["bits_by_part"]["networks"]
    assert bits[0] < 0.75 * bits[1], bits
    assert VideoDecoder(with_prior).read().num_frames == 1


def test_stream_needing_a_missing_prior_is_refused(clip, monkeypatch, tmp_path: Path):
    data, _ = encode_video(clip.slice(0, 2), config_for("mlp", 4, **ONE_FRAME), progress=False)
    monkeypatch.setattr(prior_module, "PRIOR_FILE", tmp_path / "absent.pt")
    with pytest.raises(BitstreamError, match="shipped prior mlp-.*@low, which this nmc does not"):
        VideoDecoder(data)
    # An encoder without the prior file codes against zero, and its stream decodes anywhere.
    data, _ = encode_video(clip.slice(0, 2), config_for("mlp", 4, **ONE_FRAME), progress=False)
    decoder = VideoDecoder(data)
    assert decoder.header.prior == PRIOR_NONE and decoder.read().num_frames == 2


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_earlier_default_shapes_keep_their_prior(family):
    """Streams of nmc versions whose default context model was 17 -> 8 -> 8 -> 2 name that
    shape's prior: the file still ships it, so they still decode."""
    bicubic = replace(config_for(family).synthesis, upsample=0)
    spec = config_for(family, context=ContextArch((8, 8)), synthesis=bicubic).frame_spec(144, 176)
    assert shipped_prior(spec) is not None, f"nmc no longer ships {signature(spec)}"


def test_streams_with_the_residual_context_model_still_decode(monkeypatch):
    """Header prior id 1 (before session 18) codes residual latents under the prior file's
    residual context model: the decoder still uses it, bit for bit, and read as today's id 2
    (the I frame's context model) the same bytes do not decode."""
    data = LEGACY.with_suffix(".nmc").read_bytes()
    decoder = VideoDecoder(data)
    assert decoder.header.prior == PRIOR_SHIPPED
    _assert_decodes_as_recorded(decoder.read(), LEGACY)
    as_today = prior_module.prior_for_stream
    monkeypatch.setattr(
        "nmc.video.decoder.prior_for_stream",
        lambda prior_id, spec: as_today(PRIOR_SHIPPED_NETWORKS, spec),
    )
    with pytest.raises(BitstreamError):
        VideoDecoder(data).read()


def test_version_7_streams_still_decode():
    """Version 7 upsampled each latent level by a fixed bicubic filter and stepped from the
    prior of that shape: both stay, and the stream decodes as it did."""
    decoder = VideoDecoder(VERSION_7.with_suffix(".nmc").read_bytes())
    assert decoder.header.spec.synthesis.upsample == 0
    assert decoder.header.spec.synthesis != config_for("mlp").synthesis
    _assert_decodes_as_recorded(decoder.read(), VERSION_7)


def test_version_8_streams_still_decode():
    """Version 8 streams step from their shape's whole-ladder prior (id 2), which the file keeps
    beside the two rate-class priors of version 9."""
    decoder = VideoDecoder(VERSION_8.with_suffix(".nmc").read_bytes())
    assert decoder.header.prior == PRIOR_SHIPPED_NETWORKS
    assert decoder.header.spec == config_for("conv").frame_spec(37, 51)
    _assert_decodes_as_recorded(decoder.read(), VERSION_8)


def _assert_decodes_as_recorded(video: Video, path: Path) -> None:
    """``video`` equals the planes recorded beside the stream ``path``: the latents decode
    exactly (float64 laws); the float32 synthesis on another CPU may round a few samples the
    other way."""
    expected = np.load(path.with_name(path.name + "_decoded.npz"))
    for name in ("y", "u", "v"):
        difference = np.abs(getattr(video, name).astype(int) - expected[name])
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01, name
