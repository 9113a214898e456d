"""The video codec's plug-in for :mod:`nmc.registry` (codec id 1): neural weight stepping.

Encode options (CLI ``--name``): quality, target_bpp, family, gop, steps, intra_steps, update,
rank, lam, frames, start, fps, seed, threads, device, progress.
Decode options: start, frames, scale, device, progress. An option given to the wrong side
raises :class:`~nmc.errors.InputError`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from nmc.bitstream import Container
from nmc.errors import InputError
from nmc.media import INPUT_SUFFIXES, Video
from nmc.registry import check_options
from nmc.video.config import DEFAULT_QUALITY, config_for
from nmc.video.decoder import VideoDecoder
from nmc.video.encoder import CODEC_ID, encode_video
from nmc.video.format import VideoHeader
from nmc.video.io import read_video, write_video
from nmc.video.rate_control import search_quality

NAME = "video"
__all__ = ["CODEC_ID", "INPUT_SUFFIXES", "NAME", "OPTIONS", "accepts", "decode", "describe",
           "encode", "write_output"]  # fmt: skip

OPTIONS = {
    "quality": "quality level 1 (smallest file) .. 8 (best); default 4",
    "target_bpp": "encode at the best quality whose file stays under this many bits per pixel",
    "family": "network family: conv (NeRV-like generator, default) or mlp (coordinate MLP)",
    "gop": "frames per group: one I frame (full weights) then P frames (weight steps); 1 = all I",
    "steps": "Adam steps per P frame (default: conv 100, mlp 100)",
    "intra_steps": "Adam steps of the first I frame (default: conv 600, mlp 1000)",
    "update": "parameters a P frame moves: all, first, last, bias, lowrank",
    "rank": "rank of --update lowrank steps (default 2)",
    "lam": "rate weight lambda in MSE per bpp (overrides the quality level's)",
    "frames": "number of frames to encode / to decode (default: all)",
    "start": "first frame, 0-based (decode: seeks to the I frame at or before it)",
    "fps": "frame rate of an array source (default 25)",
    "seed": "seed of the network initialization (encoder only)",
    "threads": "torch CPU threads for fitting (default: 1 below 0.2 megapixels, else torch's)",
    "scale": "decode at this size factor, e.g. 0.5 or 2 (mlp family only)",
    "device": "cpu or cuda",
}
_ENCODE = {"quality", "target_bpp", "family", "gop", "steps", "intra_steps", "update", "rank",
           "lam", "frames", "start", "fps", "seed", "threads", "device", "progress"}  # fmt: skip
_DECODE = {"start", "frames", "scale", "device", "progress"}
_INTEGER = {"quality", "gop", "steps", "intra_steps", "rank", "frames", "start", "seed", "threads"}


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


def decode(container: Container, **options: Any) -> tuple[Video, dict[str, Any]]:
    """Decode to a :class:`Video` (8-bit 4:2:0 planes; ``np.asarray(video)`` is RGB)."""
    options = check_options(options, _DECODE, "video decoding", frozenset(_INTEGER))
    decoder = VideoDecoder(
        container, scale=options.get("scale", 1.0), device=options.get("device", "cpu")
    )
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
    sizes = {"IFRM": 0, "PFRM": 0}
    for chunk in container.chunks:
        sizes[chunk.kind] = sizes.get(chunk.kind, 0) + 8 * len(chunk.payload)
    return {
        "video": {
            "family": spec.family,
            "arch": list(spec.arch.fields()),
            "width": spec.width,
            "height": spec.height,
            "fps": str(header.fps),
            "frames": header.num_frames,
            "gop": header.gop,
            "update": header.update,
            "rank": header.rank,
            "quality": header.quality,
            "source_pix_fmt": header.source_pix_fmt,
            "start": header.start,
            "intra_bits": sizes["IFRM"],
            "predicted_bits": sizes["PFRM"],
            "bpp": 8 * container.total_bytes / (spec.width * spec.height * header.num_frames),
        }
    }
