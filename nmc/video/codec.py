"""The video codec's plug-in for :mod:`nmc.registry` (codec id 1): latent grids + weight stepping.

Encode options (CLI ``--name``): quality, target_bpp, family, preset, gop, steps, intra_steps,
lam, inter_lam, motion, motion_block, latent_residual, latent_probe, prior, frames,
start, fps, seed, threads, device, progress.
Decode options: start, frames, device, progress. An option given to the wrong side
raises :class:`~nmc.errors.InputError`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from nmc.bitstream import Container
from nmc.errors import InputError
from nmc.media import Video
from nmc.registry import check_options
from nmc.video.config import DEFAULT_QUALITY, config_for
from nmc.video.decoder import VideoDecoder
from nmc.video.descriptor import CODEC_ID, INPUT_SUFFIXES, NAME, OPTIONS
from nmc.video.encoder import encode_video
from nmc.video.format import VideoHeader, unpack_groups
from nmc.video.inter import max_frame_symbols
from nmc.video.io import read_video, write_video
from nmc.video.prior import PRIOR_NAMES
from nmc.video.rate_control import search_quality

__all__ = ["CODEC_ID", "INPUT_SUFFIXES", "NAME", "OPTIONS", "accepts", "decode", "describe",
           "encode", "write_output"]  # fmt: skip

_ENCODE = {"quality", "target_bpp", "family", "preset", "gop", "steps", "intra_steps", "lam",
           "inter_lam", "motion", "motion_block", "latent_residual",
           "latent_probe", "prior", "frames", "start", "fps", "seed", "threads", "device",
           "progress"}  # fmt: skip
_DECODE = {"start", "frames", "device", "progress"}
_INTEGER = {"quality", "gop", "steps", "intra_steps", "frames", "start", "seed", "threads",
            "motion_block", "latent_probe"}  # fmt: skip


def accepts(source: object) -> bool:
    """True for a path with a video suffix, a ``uint8 [T, H, W, 3]`` array or a Video."""
    if isinstance(source, Video):
        return True
    if isinstance(source, np.ndarray):
        return source.ndim == 4 and source.shape[-1] == 3
    if isinstance(source, (str, Path)):
        return Path(source).suffix.lower() in INPUT_SUFFIXES
    return False


def encode(source: object, **options: Any) -> tuple[bytes, dict[str, Any]]:
    """Encode a clip (path, RGB array or :class:`Video`): ``(.nmc bytes, JSON-able report)``."""
    options = check_options(options, _ENCODE, "video encoding", frozenset(_INTEGER))
    progress = bool(options.pop("progress", True))
    start = options.pop("start", 0)
    video, info = read_video(source, start, options.pop("frames", None), options.pop("fps", None))
    for name in ("motion", "latent_residual", "prior"):
        if name in options:
            options[name] = _switch(options[name], name)
    family = options.pop("family", "conv")
    target = options.pop("target_bpp", None)
    if target is not None and "quality" in options:
        raise InputError("give either quality or target_bpp, not both")

    def encode_at(quality: int) -> tuple[bytes, dict[str, Any]]:
        config = config_for(family, quality, **options)
        return encode_video(
            video, config, progress=progress, source_pix_fmt=info.pix_fmt, start=start
        )

    if target is not None:
        data, report = search_quality(target, encode_at)
    else:
        data, report = encode_at(options.pop("quality", DEFAULT_QUALITY))
    report.update({"source": info.path, "source_pix_fmt": info.pix_fmt, "start": start})
    return data, report


def _switch(value: object, name: str) -> bool:
    """An on/off option from the API (bool, 0 / 1) or the command line (true / false...)."""
    words = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}
    if isinstance(value, (bool, np.bool_)) or value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in words:
        return words[value.lower()]
    raise InputError(f"{name} must be true or false, got {value!r}")


def decode(container: Container, **options: Any) -> tuple[Video, dict[str, Any]]:
    """Decode to a :class:`Video` (8-bit 4:2:0 planes; ``np.asarray(video)`` is RGB)."""
    options = check_options(options, _DECODE, "video decoding", frozenset(_INTEGER))
    decoder = VideoDecoder(container, device=options.get("device", "cpu"))
    started = time.perf_counter()
    video = decoder.read(
        options.get("start", 0), options.get("frames"), options.get("progress", True)
    )
    seconds = time.perf_counter() - started
    report = {
        "family": decoder.header.spec.family,
        "frames": video.num_frames,
        "width": video.width,
        "height": video.height,
        "fps": str(video.fps),
        "decode_seconds": seconds,
        "decode_fps": video.num_frames / max(seconds, 1e-9),
    }
    return video, report


def write_output(media: Video | np.ndarray, path: Path, **options: Any) -> None:
    """Write decoded frames to ``.y4m``, ``.mkv`` (FFV1) or a ``.png`` sequence, atomically."""
    video = media if isinstance(media, Video) else read_video(media)[0]
    write_video(video, path)


def describe(container: Container) -> dict[str, Any]:
    """Codec header and per-chunk sizes as a JSON-able dict (for ``nmc info``)."""
    header = VideoHeader.from_bytes(container.header)
    spec = header.spec
    bound = max_frame_symbols(spec, header.motion_block)
    groups = unpack_groups(container.chunks, header.num_frames, bound)
    return {
        "video": {
            "family": spec.family,
            "levels": spec.levels,
            "synthesis": list(spec.synthesis.fields()),
            "context": list(spec.context.fields()),
            "context_positional": spec.context.positional,
            "upsample_taps": spec.synthesis.upsample,
            "network_prior": PRIOR_NAMES[header.prior],
            "macs_per_pixel": spec.synthesis.macs_per_pixel(spec.levels),
            "width": spec.width,
            "height": spec.height,
            "fps": str(header.fps),
            "frames": header.num_frames,
            "gop": header.gop,
            "quality": header.quality,
            "source_pix_fmt": header.source_pix_fmt,
            "start": header.start,
            "motion_block": header.motion_block,
            "groups": len(groups),
            "network_bits": sum(8 * len(g.networks) for g in groups),
            "weight_step_bits": sum(8 * len(u) for g in groups for u in g.updates),
            "stream_bits": sum(8 * len(g.stream) for g in groups),
            "bpp": 8 * container.total_bytes / (spec.width * spec.height * header.num_frames),
        }
    }
