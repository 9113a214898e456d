"""Shipped network priors: I-frame networks coded as a step from them, residual context model,
and the header's record of which prior a stream needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmc.errors import BitstreamError
from nmc.video import VideoDecoder, config_for, encode_video
from nmc.video import prior as prior_module
from nmc.video.context import ContextArch
from nmc.video.prior import PRIOR_NONE, PRIOR_SHIPPED, shipped_prior, signature
from nmc.video.synthesis import SynthesisArch
from tests.video.conftest import FAST

ONE_FRAME = {"intra_steps": FAST["intra_steps"], "steps": FAST["steps"]}


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_default_shapes_have_a_prior_and_custom_ones_none(family):
    spec = config_for(family).frame_spec(144, 176)
    prior = shipped_prior(spec)
    assert prior is not None, f"nmc ships no prior for {signature(spec)}"
    assert all(n.startswith(("synthesis.", "context.")) for n in prior.networks)
    assert set(prior.residual_context) == {n for n in prior.networks if n.startswith("context.")}
    assert all(torch.isfinite(t).all() for t in prior.networks.values())
    custom = config_for(family, synthesis=SynthesisArch((5,), 0)).frame_spec(144, 176)
    assert shipped_prior(custom) is None


def test_prior_cuts_network_bits_and_streams_record_it(clip):
    first = clip.slice(0, 1)
    with_prior, report = encode_video(first, config_for("conv", 4, **ONE_FRAME), progress=False)
    without, plain = encode_video(
        first, config_for("conv", 4, prior=False, **ONE_FRAME), progress=False
    )
    assert VideoDecoder(with_prior).header.prior == PRIOR_SHIPPED
    assert VideoDecoder(without).header.prior == PRIOR_NONE
    bits = report["bits_by_part"]["networks"], plain["bits_by_part"]["networks"]
    assert bits[0] < 0.75 * bits[1], bits
    assert VideoDecoder(with_prior).read().num_frames == 1


def test_stream_needing_a_missing_prior_is_refused(clip, monkeypatch, tmp_path: Path):
    data, _ = encode_video(clip.slice(0, 2), config_for("mlp", 4, **ONE_FRAME), progress=False)
    monkeypatch.setattr(prior_module, "PRIOR_FILE", tmp_path / "absent.pt")
    with pytest.raises(BitstreamError, match="shipped prior of mlp-.*does not have"):
        VideoDecoder(data)
    # An encoder without the prior file codes against zero, and its stream decodes anywhere.
    data, _ = encode_video(clip.slice(0, 2), config_for("mlp", 4, **ONE_FRAME), progress=False)
    decoder = VideoDecoder(data)
    assert decoder.header.prior == PRIOR_NONE and decoder.read().num_frames == 2


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_earlier_default_shapes_keep_their_prior(family):
    """Streams of nmc versions whose default context model was 17 -> 8 -> 8 -> 2 name that
    shape's prior: the file still ships it, so they still decode."""
    spec = config_for(family, context=ContextArch((8, 8))).frame_spec(144, 176)
    assert shipped_prior(spec) is not None, f"nmc no longer ships {signature(spec)}"
