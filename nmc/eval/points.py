"""One rate point: encode, decode, measure. The unit of work a campaign distributes.

:func:`run_point` is a plain function of a picklable :class:`PointTask`, so local worker
processes and Ray workers run it alike. The project's codecs are reached only through the public
API (:func:`nmc.encode_with_report`, :func:`nmc.decode_with_report`, :func:`nmc.info`), exactly
as a user would call them.

A record (one JSON line of ``rd.jsonl``) always carries ``key``, ``dataset``, ``codec``,
``rate_option``, ``rate``, ``bpp`` (video: bits of the whole file per pixel of all frames; point
clouds: attribute bits per input point), ``psnr_y``, ``psnr_u``, ``psnr_v``, ``psnr_yuv`` (dB),
``encode_s`` and ``decode_s``; video adds ``bits``, ``frames``, ``width``, ``height`` and
``ms_ssim_y``; point clouds add ``points``, ``attr_bits``, ``geom_bits``, ``total_bits``,
``total_bpp`` and ``geometry_lossless``; points of nmc codecs add ``nmc_version`` and
``nmc_source`` (the :func:`~nmc.eval.fingerprint.codec_fingerprint` of the code that made them).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import nmc
from nmc.errors import InputError
from nmc.eval.anchors import encode_video_anchor, resolve_anchor
from nmc.eval.clouds import Cloud, load_cloud
from nmc.eval.fingerprint import codec_fingerprint
from nmc.eval.media import load_video
from nmc.eval.metrics import (
    attribute_psnr,
    attribute_psnr_nn,
    ms_ssim,
    psnr_planes,
)
from nmc.eval.recipe import CodecConfig
from nmc.eval.tmc3 import find_tmc3, run_tmc3
from nmc.media import Video, rgb_to_yuv420


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point.

    Attributes:
        kind: ``"video"`` or ``"pointcloud"``.
        dataset: label of the sequence / cloud (a registry name or the file's stem).
        source: absolute path of the media file.
        frames, start: video frames to code (unused for point clouds).
        codec: the codec configuration.
        rate: the value of ``codec.rate_option`` for this point.
        tmc3: path of the tmc3 executable, for ``tmc3`` codecs.
        source_fingerprint: for nmc codecs, the fingerprint of the codec's sources (computed
            here when not given; a campaign computes it once per run).
    """

    kind: str
    dataset: str
    source: str
    frames: int
    start: int
    codec: CodecConfig
    rate: int | float
    tmc3: str | None = None
    source_fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.codec.source == "codec" and not self.source_fingerprint:
            object.__setattr__(self, "source_fingerprint", codec_fingerprint(self.codec.target))

    @property
    def key(self) -> str:
        """Stable identity of the point: a cached record with this key is reused.

        Points of nmc codecs also hash the codec's source fingerprint, so that changed code is
        measured again; other points keep the keys they always had.
        """
        source = Path(self.source)
        size = source.stat().st_size if source.is_file() else -1
        frames = (self.frames, self.start) if self.kind == "video" else None
        parts = [
            self.kind,
            self.dataset,
            source.name,
            size,
            frames,
            self.codec.fingerprint(),
            self.rate,
        ]
        if self.codec.source == "codec":
            parts.append(self.source_fingerprint)
        text = json.dumps(parts)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _nmc_round_trip(source: str, options: dict[str, Any]) -> tuple[bytes, Any, float, float]:
    """``nmc.encode`` then ``nmc.decode`` through the public API: file bytes, decoded media,
    encode and decode seconds."""
    started = time.perf_counter()
    data, _ = nmc.encode_with_report(source, **options)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    media, _ = nmc.decode_with_report(data, progress=False)
    return data, media, encode_s, time.perf_counter() - started


def _video_planes(media: Any, clip: Video) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded video as YUV 4:2:0 planes, from an object with ``y``, ``u``, ``v`` planes (the
    codec's native 4:2:0 output) or from RGB frames ``uint8 [T,H,W,3]``."""
    if all(hasattr(media, name) for name in ("y", "u", "v")):
        planes = tuple(np.asarray(getattr(media, name)) for name in ("y", "u", "v"))
    else:
        frames = np.asarray(media)
        expected = (clip.num_frames, clip.height, clip.width, 3)
        if frames.shape != expected or frames.dtype != np.uint8:
            raise InputError(
                f"decoded video is {frames.dtype} {frames.shape}, expected uint8 {expected}"
            )
        planes = rgb_to_yuv420(frames)
    if tuple(p.shape for p in planes) != tuple(p.shape for p in clip.planes):
        raise InputError(
            f"decoded planes {[p.shape for p in planes]} do not match the source "
            f"{[p.shape for p in clip.planes]}"
        )
    return planes  # type: ignore[return-value]


def _video_point(task: PointTask) -> dict[str, Any]:
    clip = load_video(task.source, task.frames, task.start)
    codec = task.codec
    if codec.source == "anchor":
        options = codec.option_dict()
        anchor = resolve_anchor(codec.target, options.get("preset"), options.get("params"))
        out = encode_video_anchor(clip, anchor, int(task.rate))
        bits, planes, encode_s, decode_s = out.bits, out.planes, out.encode_s, out.decode_s
    elif codec.source == "codec":
        # The source file itself, as a user would pass it: the codec reads the same decoded
        # 4:2:0 frames the anchors get.
        options = {
            **codec.option_dict(),
            codec.rate_option: task.rate,
            "frames": task.frames,
            "start": task.start,
            "progress": False,
        }
        data, media, encode_s, decode_s = _nmc_round_trip(task.source, options)
        bits, planes = 8 * len(data), _video_planes(media, clip)
    else:
        raise InputError(f"codec {codec.name!r}: {codec.source} codecs do not code video")
    quality = psnr_planes(clip.planes, planes)
    return {
        "frames": clip.num_frames,
        "width": clip.width,
        "height": clip.height,
        "bits": bits,
        "bpp": bits / (clip.width * clip.height * clip.num_frames),
        **{f"psnr_{k}": v for k, v in quality.items()},
        "ms_ssim_y": ms_ssim(clip.y, planes[0]),
        "encode_s": encode_s,
        "decode_s": decode_s,
    }


def _cloud_quality(reference: Cloud, decoded: Cloud) -> dict[str, Any]:
    try:
        quality, lossless = (
            attribute_psnr(reference.xyz, reference.rgb, decoded.xyz, decoded.rgb),
            True,
        )
    except InputError:
        quality, lossless = (
            attribute_psnr_nn(reference.xyz, reference.rgb, decoded.xyz, decoded.rgb),
            False,
        )
    return {**{f"psnr_{k}": v for k, v in quality.items()}, "geometry_lossless": lossless}


def _rates(attr_bits: int, geom_bits: int, total_bits: int, points: int) -> dict[str, Any]:
    return {
        "points": points,
        "attr_bits": attr_bits,
        "geom_bits": geom_bits,
        "total_bits": total_bits,
        "bpp": attr_bits / points,
        "total_bpp": total_bits / points,
    }


def _nmc_cloud_point(task: PointTask, reference: Cloud) -> dict[str, Any]:
    options = {**task.codec.option_dict(), task.codec.rate_option: task.rate, "progress": False}
    data, media, encode_s, decode_s = _nmc_round_trip(task.source, options)
    info = nmc.info(data)
    if "attribute_bits" not in info or "geometry_bits" not in info:
        raise InputError("nmc info of a point-cloud file lacks attribute_bits / geometry_bits")
    decoded = Cloud(np.asarray(media.xyz, np.int32), np.asarray(media.rgb, np.uint8))
    return {
        **_rates(
            int(info["attribute_bits"]), int(info["geometry_bits"]), 8 * len(data), reference.points
        ),
        **_cloud_quality(reference, decoded),
        "encode_s": encode_s,
        "decode_s": decode_s,
    }


def _tmc3_point(task: PointTask, reference: Cloud) -> dict[str, Any]:
    extra = tuple(f"--{name}={value}" for name, value in task.codec.options)
    out = run_tmc3(find_tmc3(task.tmc3), reference, int(task.rate), extra)
    return {
        **_rates(out.attribute_bits, out.geometry_bits, out.total_bits, reference.points),
        **_cloud_quality(reference, out.decoded),
        "encode_s": out.encode_s,
        "decode_s": out.decode_s,
    }


def published_point(path: str, dataset: str, rate_option: str, rate: int | float) -> dict:
    """The line of a published-points JSON-lines file for ``dataset`` at ``rate_option = rate``.

    Lines name their sequence in ``cloud`` or ``dataset``; the rate field is ``bpp`` or, as in
    G-PCC anchor files, ``attr_bpp``.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read published points ({exc.strerror})") from exc
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("cloud", entry.get("dataset")) == dataset and entry.get(rate_option) == rate:
            out = {k: v for k, v in entry.items() if k not in ("cloud", "dataset", rate_option)}
            if "bpp" not in out and "attr_bpp" in out:
                out["bpp"] = out.pop("attr_bpp")
            return out
    raise InputError(f"{path}: no point for {dataset} at {rate_option}={rate}")


def run_point(task: PointTask) -> dict[str, Any]:
    """Encode, decode and measure one point; returns its record (see module docstring)."""
    codec = task.codec
    if codec.source == "points":
        measured = published_point(codec.target, task.dataset, codec.rate_option, task.rate)
    elif task.kind == "video":
        measured = _video_point(task)
    else:
        reference = load_cloud(task.source)
        if codec.source == "codec":
            measured = _nmc_cloud_point(task, reference)
        elif codec.source == "tmc3":
            measured = _tmc3_point(task, reference)
        else:
            raise InputError(f"codec {codec.name!r}: video anchors do not code point clouds")
    version = (
        {"nmc_version": nmc.__version__, "nmc_source": task.source_fingerprint}
        if codec.source == "codec"
        else {}
    )
    return {
        "key": task.key,
        "dataset": task.dataset,
        "codec": codec.name,
        "rate_option": codec.rate_option,
        "rate": task.rate,
        **version,
        **measured,
    }
