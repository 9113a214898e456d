"""The weight-stepping encoder: I frames are fitted networks, P frames are coded weight steps.

For each group of ``gop`` frames: the I frame's network is fitted (from scratch for the first,
warm-started from the previous decoded weights after that), quantized and coded in full with
:func:`nmc.weights.encode_state_dict`; each following frame starts from the previous frame's
*decoded* weights, fits a rate-penalized step, and codes its integers with
:func:`nmc.weights.encode_update`. The encoder continues from exactly the weights the decoder
will rebuild (closed loop), so quantization errors never accumulate unseen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from nmc.bitstream import Chunk, pack
from nmc.errors import BitstreamError, InputError
from nmc.eval.metrics import psnr_planes
from nmc.media import Video
from nmc.video.config import EncoderConfig
from nmc.video.fit import FitSettings, State, fit_intra, fit_update
from nmc.video.format import INTRA, VideoHeader, intra_payload, predicted_payload
from nmc.video.networks import NetSpec, lowrank_step, render, torch_threads, update_plan
from nmc.video.planes import loss_weights, to_grid
from nmc.weights import encode_state_dict, encode_update

CODEC_ID = 1


@dataclass(frozen=True)
class FrameTrace:
    """What the encoder fitted and what it coded for one frame (CPU float32 tensors).

    Attributes:
        index: frame index in the clip.
        kind: ``"IFRM"`` or ``"PFRM"``.
        reference: the previous frame's decoded weights a P frame steps from (None for I).
        fitted: the fitted weights *before* quantization of the tensors this frame codes
            densely: every parameter for an I frame; ``reference + fitted step`` of the
            update plan's dense tensors for a P frame (low-rank factors are not included).
        decoded: the weights the decoder rebuilds for this frame (all parameters).
    """

    index: int
    kind: str
    reference: State | None
    fitted: State
    decoded: State


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):
        raise InputError(f"device must be 'cpu' or 'cuda', got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but torch sees no GPU; use --device cpu")
    return torch.device(name)


def _cpu(state: State) -> State:
    return {n: t.detach().to("cpu", torch.float32) for n, t in state.items()}


def _code_predicted(
    moved: State, factors: State, reference: State, config: EncoderConfig, plan
) -> tuple[bytes, bytes, State]:
    step_payload, recon = encode_update(moved, reference, config.update_step)
    factor_payload = b""
    state = dict(reference)
    state.update(recon)
    if plan.lowrank:
        factor_payload, coded = encode_state_dict(_cpu(factors), config.update_step)
        for name in plan.lowrank:
            state[name] = reference[name] + lowrank_step(
                coded[name + ".u"], coded[name + ".v"], reference[name].shape
            )
    return step_payload, factor_payload, state


_AUTO_THREADS_PIXELS = 200_000


def _threads(config: EncoderConfig, pixels: int) -> int:
    if config.threads:
        return config.threads
    return 1 if pixels < _AUTO_THREADS_PIXELS else torch.get_num_threads()


def encode_video(
    video: Video,
    config: EncoderConfig,
    *,
    progress: bool = True,
    source_pix_fmt: str = "yuv420p",
    start: int = 0,
    on_frame: Callable[[FrameTrace], None] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Encode ``video`` into a complete ``.nmc`` file.

    Args:
        video: 8-bit 4:2:0 frames.
        config: encoder settings (:func:`nmc.video.config.config_for`).
        progress: show a tqdm bar (stderr) with each frame's PSNR and bits.
        source_pix_fmt, start: recorded in the header for information.
        on_frame: called with a :class:`FrameTrace` after each frame is coded (analysis and
            benchmarks, e.g. coding the real weight updates with another weight codec).

    Returns:
        ``(file bytes, report)``; the report holds per-frame kind, bits and PSNR (dB) and the
        totals: ``bits``, ``bpp`` (all bits of the file / (W·H·frames)), ``psnr_y``,
        ``psnr_yuv`` (6:1:1), ``encode_seconds``.
    """
    cuda = (
        [torch.cuda.current_device()]
        if config.device == "cuda" and torch.cuda.is_available()
        else []
    )
    # The rate estimate's training noise comes from torch's global generator: seed a private
    # copy of it so an encode is reproducible and the caller's random state is left alone.
    with (
        torch.random.fork_rng(devices=cuda),
        torch_threads(_threads(config, video.width * video.height)),
    ):
        torch.manual_seed(config.seed)
        return _encode(video, config, progress, source_pix_fmt, start, on_frame)


def _encode(
    video: Video,
    config: EncoderConfig,
    progress: bool,
    source_pix_fmt: str,
    start: int,
    on_frame: Callable[[FrameTrace], None] | None,
) -> tuple[bytes, dict[str, Any]]:
    device = _device(config.device)
    spec = NetSpec(config.family, config.arch, video.height, video.width)
    net = spec.build().to(device)
    generator = torch.Generator().manual_seed(config.seed)
    net.initialize(generator)
    viewer = spec.build()  # CPU copy for the decoder's renderer
    plan = update_plan(net, config.update, config.rank)
    header = VideoHeader(
        spec, video.num_frames, video.fps, config.gop, config.update, plan.rank,
        config.quality, source_pix_fmt, start,
    )  # fmt: skip
    try:  # the encoder never writes a header its own decoder would refuse
        VideoHeader.from_bytes(header.to_bytes())
    except BitstreamError as exc:
        raise InputError(f"cannot encode this clip with these settings: {exc}") from exc
    weights = loss_weights(video.height, video.width).to(device)
    intra = FitSettings(
        config.intra_steps, config.intra_lr, config.intra_step, config.lam, warmup=0.1
    )
    warm = FitSettings(config.warm_steps, config.intra_lr / 4, config.intra_step, config.lam)
    update = FitSettings(config.steps, config.update_lr, config.update_step, config.lam)

    chunks: list[Chunk] = []
    frames: list[dict[str, Any]] = []
    decoded: State | None = None
    started = time.perf_counter()
    bar = tqdm(
        range(video.num_frames), desc="encode", unit="frame", disable=not progress, leave=False
    )
    for index in bar:
        target = to_grid(*video.frame(index)).to(device)
        kind = header.kind_of(index)
        if kind == INTRA:
            if decoded is None or not config.warm_start:
                begin, settings = {n: p.detach() for n, p in net.named_parameters()}, intra
            else:
                begin, settings = {n: t.to(device) for n, t in decoded.items()}, warm
            reference, fitted = None, _cpu(fit_intra(net, begin, target, weights, settings))
            payload, decoded = encode_state_dict(fitted, config.intra_step)
            chunk = Chunk(INTRA, intra_payload(index, payload))
        else:
            reference = decoded
            on_device = {n: t.to(device) for n, t in reference.items()}
            steps, factors = fit_update(net, on_device, plan, target, weights, update, generator)
            fitted = {n: reference[n] + steps[n].cpu() for n in plan.dense}
            step_payload, factor_payload, decoded = _code_predicted(
                fitted, factors, reference, config, plan
            )
            chunk = Chunk(kind, predicted_payload(index, step_payload, factor_payload))
        if on_frame is not None:
            on_frame(FrameTrace(index, kind, reference, fitted, decoded))
        chunks.append(chunk)
        planes = render(viewer, decoded)
        quality = psnr_planes(
            tuple(p[None] for p in video.frame(index)), tuple(p[None] for p in planes)
        )
        frames.append({"index": index, "kind": kind, "bits": 8 * len(chunk.payload), **quality})
        bar.set_postfix_str(f"{kind} {frames[-1]['bits'] / 1000:.1f} kbit {quality['yuv']:.2f} dB")
    data = pack(CODEC_ID, header.to_bytes(), chunks)
    pixels = video.width * video.height * video.num_frames
    report = {
        "family": config.family,
        "quality": config.quality,
        "frames": video.num_frames,
        "width": video.width,
        "height": video.height,
        "bits": 8 * len(data),
        "bpp": 8 * len(data) / pixels,
        "psnr_y": float(np.mean([f["y"] for f in frames])),
        "psnr_yuv": float(np.mean([f["yuv"] for f in frames])),
        "encode_seconds": time.perf_counter() - started,
        "settings": {
            k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
            for k, v in vars(config).items()
        },
        "per_frame": frames,
    }
    return data, report
