"""The video codec end to end on real frames: both families, bitstream, seeking, options, damage."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from nmc.bitstream import pack, unpack
from nmc.errors import BitstreamError, InputError
from nmc.media import psnr_planes
from nmc.video import VideoDecoder, codec, decode, encode
from nmc.video.format import VideoHeader
from tests.video.conftest import CONVERGED_STEPS, FAST


def test_decoder_rebuilds_what_the_encoder_measured(clip, encoded):
    family, data, report, _ = encoded
    video = decode(data)
    assert video.y.shape == clip.y.shape and video.u.shape == clip.u.shape
    for index, frame in enumerate(report["per_frame"]):
        got = psnr_planes(
            tuple(p[None] for p in clip.frame(index)), tuple(p[None] for p in video.frame(index))
        )
        assert got["yuv"] == pytest.approx(frame["yuv"], abs=1e-9)
    assert [f["kind"] for f in report["per_frame"]] == ["IFRM", "PFRM", "IFRM"]
    assert report["bits"] == 8 * len(data) and report["family"] == family
    assert report["psnr_yuv"] > 20  # a real fit, even with few steps


def test_bitstream_round_trip_and_describe(encoded):
    family, data, _, _ = encoded
    container = unpack(data)
    header = VideoHeader.from_bytes(container.header)
    assert VideoHeader.from_bytes(header.to_bytes()) == header
    assert header.spec.family == family and header.num_frames == 3 and header.gop == 2
    again = pack(container.codec_id, container.header, list(container.chunks))
    assert again == data
    info = codec.describe(container)["video"]
    assert info["family"] == family and info["groups"] == 2 and info["motion_block"] == 32
    assert info["network_bits"] > 0 and info["stream_bits"] > 0
    assert info["upsample_taps"] == header.spec.synthesis.upsample == 8


def test_seek_matches_sequential_decode(encoded):
    _, data, _, _ = encoded
    full = decode(data)
    for start in range(3):
        part = VideoDecoder(data).read(start, 1)
        assert np.array_equal(part.y[0], full.y[start]) and np.array_equal(part.v[0], full.v[start])


@pytest.mark.parametrize("cut", [10, 200, -7])
def test_truncated_file_is_bitstream_error(encoded, cut):
    _, data, _, _ = encoded
    with pytest.raises(BitstreamError):
        decode(data[:cut])


def test_damaged_payload_is_bitstream_error(encoded):
    _, data, _, _ = encoded
    container = unpack(data)
    chunks = list(container.chunks)
    payload = bytearray(chunks[1].payload)
    payload[len(payload) // 2] ^= 0x5A
    chunks[1] = type(chunks[1])(chunks[1].kind, bytes(payload))
    # Valid CRC, altered content: an entropy-coded payload may still parse; if it does not, the
    # failure must be a BitstreamError (never another exception).
    with contextlib.suppress(BitstreamError):
        decode(pack(container.codec_id, container.header, chunks))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    with pytest.raises(BitstreamError):
        decode(bytes(flipped))
    with pytest.raises(BitstreamError):
        decode(pack(container.codec_id, container.header + b"\x00", chunks))
    with pytest.raises(BitstreamError, match="header says 3 frames but the file holds 2"):
        decode(pack(container.codec_id, container.header, chunks[:1]))


def test_options_are_checked(clip, encoded):
    _, data, _, _ = encoded
    with pytest.raises(InputError, match="do not apply"):
        encode(clip, scale=2, progress=False)
    with pytest.raises(InputError, match="do not apply"):
        codec.decode(unpack(data), scale=2)
    with pytest.raises(InputError, match="do not apply"):
        codec.decode(unpack(data), quality=3)
    with pytest.raises(InputError, match="quality"):
        encode(clip, quality=9, progress=False)
    with pytest.raises(InputError, match="family"):
        encode(clip, family="transformer", progress=False)
    with pytest.raises(InputError, match="preset"):
        encode(clip, preset="placebo", progress=False)
    with pytest.raises(InputError, match="integer"):
        encode(clip, gop=2.5, progress=False)
    with pytest.raises(InputError, match="either"):
        encode(clip, quality=3, target_bpp=1.0, progress=False)


def test_array_source_and_write_output(tmp_path, clip, encoded):
    _, data, _, _ = encoded
    video, report = codec.decode(unpack(data))
    codec.write_output(video, tmp_path / "out.y4m")
    assert (tmp_path / "out.y4m").stat().st_size > 0 and report["frames"] == 3
    rgb = clip.rgb()[:2]
    assert codec.accepts(rgb) and codec.accepts("x.MP4") and not codec.accepts("x.ply")
    _, from_array = encode(rgb, fps=24, **FAST)
    assert from_array["frames"] == 2 and from_array["source_pix_fmt"] == "rgb24"


def test_target_bpp_picks_a_level_under_the_target(clip):
    small = clip.slice(0, 1)
    _, low = encode(small, quality=1, **FAST)
    _, report = encode(small, target_bpp=low["bpp"] * 1.001, **FAST)
    assert report["target_met"] and report["bpp"] <= low["bpp"] * 1.001
    assert set(report["probes"]) <= set(range(1, 9))


@pytest.mark.parametrize("family", ["conv", "mlp"])
def test_quality_moves_rate_monotonically(clip, family):
    small, settings = clip.slice(0, 1), {**FAST, "intra_steps": CONVERGED_STEPS}
    rates = [encode(small, family=family, quality=q, **settings)[1]["bpp"] for q in range(1, 9)]
    assert all(a < b for a, b in zip(rates, rates[1:])), rates


def test_encode_is_reproducible(clip):
    first, _ = encode(clip.slice(0, 2), **FAST)
    again, _ = encode(clip.slice(0, 2), **FAST)
    assert first == again
    other, _ = encode(clip.slice(0, 2), seed=1, **FAST)
    assert other != first  # the seed reaches the fits' noise (torch keeps a seed's low 32 bits)


def test_streaming_decoder_ranges(encoded):
    _, data, _, _ = encoded
    decoder = VideoDecoder(data)
    assert decoder.num_frames == 3 and len(list(decoder)) == 3
    assert len(list(decoder.frames(start=1, count=5))) == 2
    with pytest.raises(InputError, match="start"):
        list(decoder.frames(start=3))
    with pytest.raises(InputError, match="frames"):
        list(decoder.frames(start=0, count=0))


def test_frame_trace_shows_fitted_and_decoded_state(clip, encoded):
    family, data, _, traces = encoded
    assert [(t.index, t.kind) for t in traces] == [(0, "IFRM"), (1, "PFRM"), (2, "IFRM")]
    assert traces[0].reference is None and traces[1].reference is traces[0].decoded
    for trace, frame in zip(traces, VideoDecoder(data)):
        assert all(np.array_equal(a, b) for a, b in zip(trace.planes, frame))
        for name, value in trace.decoded.items():
            if name.startswith("latents."):  # latents are integers in every frame
                assert torch.equal(value, value.round())
    intra = traces[0]
    for name, fitted in intra.fitted.items():  # rounding / uniform quantization of the fit
        error = float((intra.decoded[name] - fitted.clamp(-31, 31)).abs().max())
        assert error <= 0.5 + 1e-6 if name.startswith("latents.") else error < 0.5
    moved = traces[1].fitted
    assert moved and all(n.startswith("synthesis.") for n in moved)  # the P frame's weight step
