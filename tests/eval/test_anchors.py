"""PyAV anchors on 5 real carphone frames: monotone RD, decodable streams, clean errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nmc.errors import InputError
from nmc.eval.anchors import VIDEO_ANCHORS, _drop_info_sei, encode_video_anchor, resolve_anchor
from nmc.eval.metrics import psnr_planes

LADDERS = {"x264": (24, 32, 40, 48), "x265": (24, 32, 40, 48), "svtav1": (30, 42, 54, 63)}


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_anchor_rd_is_monotone_on_real_frames(carphone_clip, name: str) -> None:
    anchor = resolve_anchor(name)
    points = []
    for crf in LADDERS[name]:
        out = encode_video_anchor(carphone_clip, anchor, crf)
        assert all(p.shape == r.shape for p, r in zip(out.planes, carphone_clip.planes))
        points.append((out.bits, psnr_planes(carphone_clip.planes, out.planes)["yuv"]))
    bits, quality = np.array(points).T
    assert np.all(np.diff(bits) < 0), points  # higher CRF, fewer bits
    assert np.all(np.diff(quality) < 0), points  # ... and lower quality
    assert quality[-1] > 20.0 and quality[0] < 50.0


def test_encoder_version_sei_is_not_counted(carphone_clip) -> None:
    anchor = resolve_anchor("x264")
    unstripped = replace(anchor, nal_syntax="")
    stripped_bits = encode_video_anchor(carphone_clip, anchor, 40).bits
    full_bits = encode_video_anchor(carphone_clip, unstripped, 40).bits
    # x264 writes its version and option string (several hundred bytes) into one SEI.
    assert 8 * 300 < full_bits - stripped_bits < 8 * 2000


def test_drop_info_sei_keeps_other_nal_units() -> None:
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x0b"
    sei = b"\x00\x00\x01\x06\x05\x10" + b"x264 - core" + b"\x80"
    other_sei = b"\x00\x00\x01\x06\x01\x01\x00\x80"  # picture timing: kept
    slice_ = b"\x00\x00\x01\x65\x88\x84"
    stream = sps + sei + other_sei + slice_
    assert _drop_info_sei(stream, "h264") == sps + other_sei + slice_
    assert _drop_info_sei(stream, "") == stream


def test_errors_name_the_problem(carphone_clip) -> None:
    with pytest.raises(InputError, match="unknown video anchor"):
        resolve_anchor("vvenc")
    with pytest.raises(InputError, match="CRF 70 outside"):
        encode_video_anchor(carphone_clip, VIDEO_ANCHORS["x264"], 70)
    odd = replace(carphone_clip, y=carphone_clip.y[:, :-1], u=carphone_clip.u, v=carphone_clip.v)
    with pytest.raises(InputError, match="even frame sizes"):
        encode_video_anchor(odd, VIDEO_ANCHORS["x264"], 30)


def test_preset_and_params_override(carphone_clip) -> None:
    fast = resolve_anchor("x264", preset="ultrafast", params="keyint=infinite:bframes=0")
    assert fast.preset == "ultrafast" and fast.encoder == "libx264"
    out = encode_video_anchor(carphone_clip, fast, 30)
    assert out.bits > 0 and out.encode_s >= 0
