"""The encoder: I frames are fitted latent grids + networks, P frames are coded parameter steps.

For each group of ``gop`` frames: the I frame's latents, context model and synthesis are fitted
(from scratch for the first, warm-started from the previous decoded state after that) under
``D + lambda R``, then rounded, their network steps chosen and coded (:mod:`nmc.video.intra`);
each following frame predicts from the previous *decoded* frame by motion and steps the
previous frame's parameters (:mod:`nmc.video.inter`). A frame that motion cannot predict (a
scene cut) is coded as an I frame. The encoder continues from exactly the state the decoder
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

from nmc.allocator import keep_freed_memory
from nmc.bitstream import Chunk, pack
from nmc.entropy.stream import StreamWriter, SymbolRecord
from nmc.errors import BitstreamError, InputError
from nmc.media import Video, psnr_planes
from nmc.video.config import EncoderConfig
from nmc.video.descriptor import CODEC_ID
from nmc.video.fit import FitSettings, State, fit_intra
from nmc.video.format import INTRA, FrameGroup, VideoHeader
from nmc.video.frame_model import level_state, render_state, split_state
from nmc.video.inter import (
    LatentSchedule,
    Reference,
    code_predicted,
    fit_predicted,
    is_scene_cut,
    zero_vectors,
)
from nmc.video.intra import code_intra
from nmc.video.planes import from_grid, loss_weights, metric_weights, plane_mse, to_grid
from nmc.video.prior import PRIOR_NONE, encoder_prior
from nmc.video.render import render, torch_threads


@dataclass(frozen=True)
class FrameTrace:
    """What the encoder fitted and what it coded for one frame (CPU float32 tensors).

    Attributes:
        index: frame index in the clip.
        kind: ``"IFRM"`` or ``"PFRM"``.
        reference: the previous frame's decoded weights a P frame steps from (None for I).
        fitted: the fitted values *before* quantization of the tensors this frame codes:
            every parameter for an I frame; ``reference + fitted step`` of the moved tensors
            for a P frame.
        decoded: the state the decoder rebuilds for this frame (all parameters; a P frame's
            ``latents.*`` are its residual latents).
        planes: the frame the decoder will output, ``(y, u, v)`` uint8.
    """

    index: int
    kind: str
    reference: State | None
    fitted: State
    decoded: State
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]


# torch's CPU generator keeps only the low 32 bits of a seed: an encode's seed is spread over
# them by an odd multiplier (seed 0 draws frame i's noise from seed i).
_SEED_MIX = 0x9E3779B1


def frame_seed(seed: int, index: int) -> int:
    """Seed of frame ``index``'s fitting noise in an encode with option ``seed`` (32 bits)."""
    return (index + seed * _SEED_MIX) % (1 << 32)


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):
        raise InputError(f"device must be 'cpu' or 'cuda', got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but torch sees no GPU; use --device cpu")
    return torch.device(name)


def _cpu(state: State) -> State:
    return {n: t.detach().to("cpu", torch.float32) for n, t in state.items()}


_AUTO_THREADS_PIXELS = 200_000


class _GroupWriter:
    """Collects a group's I-frame networks, P-frame synthesis steps and stream symbols."""

    def __init__(self, first: int, networks: bytes) -> None:
        self.first, self.count, self.networks = first, 0, networks
        self.updates: list[bytes] = []
        self.stream = StreamWriter()

    def add(self, record: SymbolRecord, update: bytes = b"") -> None:
        """Append a frame: its symbols and, when its weights step, its synthesis step."""
        record.replay(self.stream)
        self.updates += [update] if update else []
        self.count += 1

    def chunk(self) -> Chunk:
        """The group's ``FRMS`` chunk."""
        group = FrameGroup(self.first, self.count, self.networks, tuple(self.updates),
                           self.stream.symbols, self.stream.finish())  # fmt: skip
        return group.to_chunk()


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
    keep_freed_memory()
    # The fits' relaxation noise comes from torch's global generator: a private copy of it,
    # seeded per frame (_encode), so an encode is reproducible and the caller's random state
    # is left alone.
    with (
        torch.random.fork_rng(devices=cuda),
        torch_threads(_threads(config, video.width * video.height)),
    ):
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
    spec = config.frame_spec(video.height, video.width)
    model = spec.build().to(device)
    model.initialize(torch.Generator().manual_seed(config.seed))
    prior_id, shipped = encoder_prior(spec, config.lam) if config.prior else (PRIOR_NONE, None)
    prior = prior_on_device = None
    if shipped is not None:  # the fit starts from the prior's networks
        prior = shipped.networks
        model.load_state_dict(prior, strict=False)
        prior_on_device = {n: t.to(device) for n, t in prior.items()}
    viewer = spec.build()  # CPU copy for the decoder's renderer
    header = VideoHeader(
        spec, video.num_frames, video.fps, config.gop, config.quality, source_pix_fmt, start,
        prior_id, config.motion_block,
    )  # fmt: skip
    try:  # the encoder never writes a header its own decoder would refuse
        VideoHeader.from_bytes(header.to_bytes())
    except BitstreamError as exc:
        raise InputError(f"cannot encode this clip with these settings: {exc}") from exc
    weights = loss_weights(video.height, video.width).to(device)
    weight_step = 2.0**-8
    intra = FitSettings(config.intra_steps, config.lr, config.lam, weight_step, warmup=0.05)
    warm = FitSettings(config.warm_steps, config.lr / 4, config.lam, weight_step)
    inter_lam = config.lam * config.inter_lam
    update = FitSettings(config.steps, config.update_lr, inter_lam, config.update_step)

    chunks = []
    group: _GroupWriter | None = None
    frames: list[dict[str, Any]] = []
    parts = dict.fromkeys(("networks", "latents", "motion", "weights", "residual", "transform"), 0)
    decoded: State | None = None
    last_intra: State | None = None
    reference: Reference | None = None
    operating: torch.Tensor | None = None  # plane MSEs of the last coded frame
    schedule = LatentSchedule(config.latent_residual, config.latent_probe)
    started = time.perf_counter()
    bar = tqdm(
        range(video.num_frames), desc="encode", unit="frame", disable=not progress, leave=False
    )
    for index in bar:
        # Each frame's fit draws its own noise: an encoder choice on one frame (another trial,
        # another part kept) changes later frames only through their reference, not through
        # the noise they see, so A/B comparisons of encoder changes are not lost in the draw.
        torch.manual_seed(frame_seed(config.seed, index))
        target = to_grid(*video.frame(index)).to(device)
        kind = header.kind_of(index)
        cut = kind != INTRA and is_scene_cut(reference, target.cpu(), weights.cpu())
        if cut:
            kind = INTRA
        previous = decoded
        if kind == INTRA:
            # A scene cut starts afresh (from the prior's networks when there is one): the
            # previous scene's latents and networks are a far worse start (bikes-cyclist's
            # first 3 frames at q3, two scene cuts: 52.7 kbit @ 34.67 dB warm-started, 31.4
            # kbit @ 35.75 dB fitted afresh).
            if last_intra is None or not config.warm_start or cut:
                begin, settings = {n: p.detach() for n, p in model.named_parameters()}, intra
            else:  # the previous group's latents with the latest networks
                latest = {**decoded, **split_state(last_intra)[0]}
                begin, settings = {n: t.to(device) for n, t in latest.items()}, warm
            fitted = fit_intra(model, begin, target, weights, settings, prior_on_device)
            with torch.no_grad():  # the step search judges at the fit's operating point
                error = render_state(model, fitted) - target
            networks, record, decoded = code_intra(
                model, fitted, target, metric_weights(weights, plane_mse(weights, error)),
                config.lam, prior,
            )  # fmt: skip
            last_intra = decoded
            schedule.restart()
            fitted = _cpu(fitted)
            if group is not None:
                chunks.append(group.chunk())
            group = _GroupWriter(index, networks)
            group.add(record)
            parts["networks"] += 8 * len(networks)
            parts["latents"] += record.bits
            bits = 8 * len(networks) + record.bits
            planes = render(viewer, decoded)
            vectors = zero_vectors(video.height, video.width, config.motion_block)
            statistics = None
        else:
            fit_latents = schedule.fits_latents()
            # A P frame is fitted and coded at the previous frame's operating point (its plane
            # errors are what this frame's will be near).
            matched = metric_weights(weights, operating)
            moved = fit_predicted(model, reference.to(device), target, matched, update,
                                  config.update_step, config.motion, fit_latents)  # fmt: skip
            coded, result = code_predicted(viewer, reference, moved, target, matched.cpu(),
                                           inter_lam, config.update_step)  # fmt: skip
            schedule.record(fit_latents, coded.kept_latents)
            for part, part_bits in coded.bits.items():
                parts[part] += part_bits
            group.add(coded.record, coded.update)
            bits = coded.record.bits + 8 * len(coded.update)
            fitted = {n: reference.state[n] + t.cpu() for n, t in moved[2].items()}
            decoded = {**result.state, **level_state(result.latents)}
            planes = from_grid(result.frame, video.height, video.width)
            vectors, statistics = result.vectors, result.statistics
        reference = Reference(to_grid(*planes), vectors, config.motion_block, decoded,
                              statistics=statistics)  # fmt: skip
        operating = plane_mse(weights, reference.frame.to(device) - target)
        if on_frame is not None:
            on_frame(
                FrameTrace(
                    index, kind, None if kind == INTRA else previous, fitted, decoded, planes
                )
            )
        quality = psnr_planes(
            tuple(p[None] for p in video.frame(index)), tuple(p[None] for p in planes)
        )
        frames.append({"index": index, "kind": kind, "bits": round(bits), **quality})
        bar.set_postfix_str(f"{kind} {frames[-1]['bits'] / 1000:.1f} kbit {quality['yuv']:.2f} dB")
    data = pack(CODEC_ID, header.to_bytes(), [*chunks, group.chunk()])
    parts = {name: round(bits) for name, bits in parts.items()}
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
        "bits_by_part": {"container": 8 * len(data) - sum(parts.values()), **parts},
        "encode_seconds": time.perf_counter() - started,
        "settings": {
            k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
            for k, v in vars(config).items()
        },
        "per_frame": frames,
    }
    return data, report
