"""Measurement helpers shared by ``bench_intra.py`` and ``bench_video.py``: clips, coding,
anchors, BD-rate records.

Both benchmarks measure the codec exactly as a user meets it: ``nmc.video.encode`` with the
default options (anything else only when asked for), ``VideoDecoder(data).read()``, rate = all
bits of the file, quality measured here on the decoded 8-bit 4:2:0 planes (DESIGN.md § 5:
PSNR per plane with peak 255, mean over frames, PSNR-YUV = (6 Y + U + V) / 8; bpp = bits /
(W·H·frames)). Anchors (x264 / x265 through PyAV, ``nmc.eval.anchors``) are coded and measured
on the same planes in the same run. BD-rates: PCHIP on log-rate (``nmc.eval.bdrate``).

Every result is one JSON record: ``"record": "point"`` (one rate point), ``"bd_rate"`` (one
test curve against one anchor curve on one clip), ``"skipped"`` (a curve this codec version
cannot make) or ``"summary"`` (the BD-rates gathered over clips). Running the benchmarks and
printing their results is :mod:`_bench_cli`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmc import datasets
from nmc.errors import NmcError
from nmc.eval.anchors import encode_video_anchor, resolve_anchor
from nmc.eval.bdrate import bd_rate
from nmc.eval.metrics import psnr_planes
from nmc.media import Video, read_frames

METRICS = ("psnr_yuv", "psnr_y")
"""BD-rate metrics, the first one is the headline (PSNR-YUV 6:1:1, dB)."""


Record = dict[str, Any]


@dataclass(frozen=True)
class ClipSpec:
    """A real clip (or single frame) cut from a registry dataset, by frame range and crop.

    Attributes:
        name: label used in the records (``--clips`` selects by it).
        dataset: ``nmc.datasets`` registry name of the source (``carphone``, ``bikes`` ...).
        start: index of the first frame in the source (0-based).
        frames: frames available from ``start`` without crossing a scene cut.
        crop: ``(top, left, height, width)`` luma pixels, all even (exact 4:2:0 chroma);
            ``None`` keeps the whole frame. A crop, never a resampling.
        note: what the content is and how it moves.
    """

    name: str
    dataset: str
    start: int
    frames: int
    crop: tuple[int, int, int, int] | None
    note: str

    def describe(self, frames: int) -> str:
        """Provenance: ``bikes.mp4 frames 46-75, crop 224x128 at top 72, left 208 (note)``."""
        source = datasets.get(self.dataset).local.partition(":")[2] or self.dataset
        span = (
            f"frame {self.start}"
            if frames == 1
            else f"frames {self.start}-{self.start + frames - 1}"
        )
        if self.crop is None:
            return f"{source} {span}, whole frame ({self.note})"
        top, left, height, width = self.crop
        return f"{source} {span}, crop {width}x{height} at top {top}, left {left} ({self.note})"


def crop_video(video: Video, top: int, left: int, height: int, width: int) -> Video:
    """The ``height x width`` window at ``(top, left)`` of every frame (luma pixels).

    All four values must be even so that the 4:2:0 chroma window is exactly half of it.
    """
    if any(value % 2 for value in (top, left, height, width)):
        raise ValueError(
            f"crop needs even top, left, height, width; got {top, left, height, width}"
        )
    if top < 0 or left < 0 or top + height > video.height or left + width > video.width:
        raise ValueError(
            f"crop {width}x{height} at ({top}, {left}) is outside the "
            f"{video.width}x{video.height} frame"
        )
    rows, cols = slice(top, top + height), slice(left, left + width)
    half = slice(top // 2, (top + height) // 2), slice(left // 2, (left + width) // 2)
    return Video(
        video.y[:, rows, cols].copy(),
        video.u[:, half[0], half[1]].copy(),
        video.v[:, half[0], half[1]].copy(),
        video.fps,
    )


def load_clip(spec: ClipSpec, frames: int | None = None) -> Video:
    """The clip's 8-bit 4:2:0 frames (at most ``frames`` of them), cropped.

    Raises:
        nmc.errors.InputError: the dataset is not on this machine.
        ValueError: the source has fewer frames than asked for, or the crop does not fit.
    """
    count = spec.frames if frames is None else max(1, min(frames, spec.frames))
    video, _ = read_frames(datasets.path(spec.dataset), spec.start, count)
    if video.num_frames != count:
        raise ValueError(f"{spec.name}: the source has only {video.num_frames} of {count} frames")
    return video if spec.crop is None else crop_video(video, *spec.crop)


def catalogue(*rows: tuple) -> dict[str, ClipSpec]:
    """``{name: ClipSpec(*row)}`` of rows ``(name, dataset, start, frames, crop, note)``."""
    return {row[0]: ClipSpec(*row) for row in rows}


def parse_list(text: str, cast: Callable[[str], Any]) -> list[Any]:
    """``"2,4, 6"`` -> ``[cast("2"), cast("4"), cast("6")]``; empty items are skipped."""
    return [cast(item.strip()) for item in text.split(",") if item.strip()]


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``["steps=50", "update=first"]`` -> ``{"steps": 50, "update": "first"}``.

    Values become int, else float, else stay strings.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = value
    return options


def measure(reference: Video, planes: Sequence[Any], bits: int) -> Record:
    """Rate and quality of decoded ``(Y, U, V)`` planes against ``reference``.

    Returns ``bits`` (whole stream), ``bpp`` (bits / (W·H·frames)) and ``psnr_y``, ``psnr_u``,
    ``psnr_v``, ``psnr_yuv`` (dB, mean over frames, YUV = (6 Y + U + V) / 8).
    """
    quality = psnr_planes(reference.planes, tuple(planes))
    pixels = reference.width * reference.height * reference.num_frames
    return {
        "bits": int(bits),
        "bpp": bits / pixels,
        **{f"psnr_{plane}": float(value) for plane, value in quality.items()},
    }


def _geometry(video: Video) -> Record:
    return {"frames": video.num_frames, "width": video.width, "height": video.height}


def code_nmc(
    video: Video, family: str, quality: int, options: dict[str, Any]
) -> tuple[Record, Record]:
    """Encode ``video`` through the public API, decode it, measure: ``(point, encoder report)``.

    ``options`` are extra encode options (empty = what a user gets). Times are wall-clock
    seconds; decoding is timed from the file bytes (parsing included) to the last frame.
    """
    from nmc.video import VideoDecoder, encode

    started = time.perf_counter()
    data, report = encode(
        video, family=family, quality=quality, frames=video.num_frames, progress=False, **options
    )
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = VideoDecoder(data).read()
    decode_s = time.perf_counter() - started
    point = {
        "family": family,
        "quality": quality,
        **_geometry(video),
        **measure(video, decoded.planes, 8 * len(data)),
        **_timing(video.num_frames, encode_s, decode_s),
    }
    if "psnr_yuv" in report:  # the encoder's closed-loop figure; differs only on a decoder mismatch
        point["encoder_psnr_yuv"] = float(report["psnr_yuv"])
    return point, report


def with_parts(point: Record, report: Record) -> Record:
    """``point`` plus what the encoder report says about where the bits went, when it says it.

    ``bits_by_part`` (part name -> bits, e.g. header, motion, latents, weights), and from the
    per-frame report ``frame_kinds`` (kind -> count) and ``bits_by_kind`` (kind -> bits) when
    present.
    """
    parts = report.get("bits_by_part")
    if isinstance(parts, dict) and parts:
        point = {**point, "bits_by_part": {str(k): int(v) for k, v in parts.items()}}
    frames = report.get("per_frame")
    if isinstance(frames, list) and frames and all(isinstance(f, dict) for f in frames):
        kinds = [str(f.get("kind", "?")) for f in frames]
        point = {**point, "frame_kinds": {k: kinds.count(k) for k in dict.fromkeys(kinds)}}
        if all(isinstance(f.get("bits"), int) for f in frames):
            by_kind = {k: sum(f["bits"] for f, n in zip(frames, kinds) if n == k) for k in kinds}
            point = {**point, "bits_by_kind": by_kind}
    return point


def part_shares(points: Sequence[Record]) -> dict[str, dict[str, float]]:
    """Per codec, the share (0..1) of all its points' file bits in each part of
    ``bits_by_part``; codecs whose report gives no parts are left out."""
    totals: dict[str, dict[str, int]] = {}
    for point in points:
        parts = point.get("bits_by_part")
        if parts:
            sums = totals.setdefault(point["codec"], {"(file)": 0})
            sums["(file)"] += point["bits"]
            for name, bits in parts.items():
                sums[name] = sums.get(name, 0) + bits
    return {
        codec: {name: bits / sums["(file)"] for name, bits in sums.items() if name != "(file)"}
        for codec, sums in totals.items()
    }


def parts_column(point: Record) -> str:
    """``"  motion 8% latents 71% weights 19% other 2%"``: shares of the file's bits, or ``""``."""
    parts = point.get("bits_by_part")
    if not parts:
        return ""
    total = point["bits"]
    shares = dict(parts)
    rest = total - sum(parts.values())
    if rest > 0:
        shares["other"] = rest
    return "  " + " ".join(f"{name} {100 * bits / total:.0f}%" for name, bits in shares.items())


def save_clip(video: Video, path: Path) -> None:
    """Write the exact frames a benchmark codes to ``path`` (.y4m), for the CLI to code."""
    from nmc.video import write_video

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(video, path)


def _timing(frames: int, encode_s: float, decode_s: float) -> Record:
    return {
        "encode_seconds": encode_s,
        "decode_seconds": decode_s,
        "encode_s_per_frame": encode_s / frames,
        "decode_fps": frames / max(decode_s, 1e-9),
    }


@dataclass(frozen=True)
class AnchorSetup:
    """An x264 / x265 configuration (preset medium) of ``nmc.eval.anchors``.

    Attributes:
        label: codec name in the records (``x265-intra``).
        encoder: key of ``nmc.eval.anchors.VIDEO_ANCHORS`` (``x264``, ``x265``).
        params: ``x26N-params`` string; ``None`` keeps ``nmc.eval.anchors``' low-delay P setting
            (one I frame, no B frames).
        description: how a reader should understand the configuration.
    """

    label: str
    encoder: str
    params: str | None
    description: str


def code_anchor(video: Video, setup: AnchorSetup, crf: int) -> Record:
    """One anchor rate point: bits = sum of packet sizes (informational SEI not counted)."""
    anchor = resolve_anchor(setup.encoder, params=setup.params)
    out = encode_video_anchor(video, anchor, crf)
    return {
        "crf": crf,
        "settings": f"{setup.description}: {anchor.encoder} preset {anchor.preset}, "
        f"{anchor.params_option}={anchor.params!r}",
        **_geometry(video),
        **measure(video, out.planes, out.bits),
        **_timing(video.num_frames, out.encode_s, out.decode_s),
    }


def bd_record(
    clip: str, test: str, anchor: str, curves: dict[str, list[Record]], metric: str
) -> Record:
    """BD-rate (%) of curve ``test`` against curve ``anchor`` on ``clip`` (negative = fewer bits).

    ``bd_rate_percent`` is ``None`` with the reason in ``note`` when it is undefined (fewer
    than 4 points, a non-monotone curve, no common quality range).
    """
    record: Record = {
        "record": "bd_rate",
        "clip": clip,
        "test": test,
        "anchor": anchor,
        "metric": metric,
    }
    a, t = curves[anchor], curves[test]
    try:
        value = bd_rate(
            [p["bpp"] for p in a],
            [p[metric] for p in a],
            [p["bpp"] for p in t],
            [p[metric] for p in t],
        )
    except NmcError as exc:
        return {**record, "bd_rate_percent": None, "note": str(exc)}
    return {**record, "bd_rate_percent": value, "note": ""}


@dataclass(frozen=True)
class Target:
    """An issue's goal: the better family's PSNR-YUV BD-rate against ``anchor`` at most
    ``limit`` percent on every clip, or the clip's own limit in ``per_clip``."""

    anchor: str
    limit: float
    per_clip: tuple[tuple[str, float], ...] = ()

    def check(self, best: dict[str, float | None]) -> Record:
        """Per clip ``{bd_rate_percent, limit, met}`` from ``{clip: better family's BD-rate}``,
        and ``all_met``; an undefined BD-rate does not meet the target."""
        limits = dict(self.per_clip)
        clips = {}
        for clip, value in best.items():
            limit = limits.get(clip, self.limit)
            met = value is not None and value <= limit
            clips[clip] = {"bd_rate_percent": value, "limit": limit, "met": met}
        met_all = bool(clips) and all(c["met"] for c in clips.values())
        return {"anchor": self.anchor, "clips": clips, "all_met": met_all}


def summarize(
    bd_records: Sequence[Record],
    families: Sequence[str],
    anchors: Sequence[str],
    target: Target | None = None,
) -> Record:
    """BD-rates (PSNR-YUV, %) gathered over clips, per (test, anchor) pair, the better family
    per clip against each anchor, and ``target`` checked on those (when given)."""
    headline = [r for r in bd_records if r["metric"] == METRICS[0]]
    pairs: dict[str, dict[str, float | None]] = {}
    for r in headline:
        pairs.setdefault(f"{r['test']} vs {r['anchor']}", {})[r["clip"]] = r["bd_rate_percent"]
    best: dict[str, dict[str, float | None]] = {}
    for anchor in anchors:
        for clip in dict.fromkeys(r["clip"] for r in headline):
            values = [pairs.get(f"{f} vs {anchor}", {}).get(clip) for f in families]
            known = [v for v in values if v is not None]
            best.setdefault(anchor, {})[clip] = min(known) if known else None
    summary = {
        "record": "summary",
        "metric": METRICS[0],
        "bd_rate_percent": pairs,
        "mean_bd_rate_percent": {k: _mean(v.values()) for k, v in pairs.items()},
        "better_family_bd_rate_percent": best,
    }
    if target is not None and target.anchor in best:
        summary["target"] = target.check(best[target.anchor])
    return summary


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None
