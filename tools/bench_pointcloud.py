"""Benchmark of the point-cloud codec on real scans against the G-PCC (TMC13 v23) anchors.

For each scan of ``../shared/data/anchors/tmc13_v23_raht_osd_learn.jsonl`` (or ``--scans``)
and each CTC QP (51, 46, 40, 34, 28, 22) it prints, per point: attribute bpp, geometry bpp,
PSNR Y / U / V / YUV (BT.709, point to point, peak 255, YUV = (6Y + U + V) / 8), encode and
decode seconds; then per scan the YUV BD-rate against the anchors (PCHIP on log rate), the
geometry size against TMC13's (``total_bpp - attr_bpp``) and the median encode + decode time
scaled to 200k points, wall and CPU (the CPU time stays meaningful when other work shares
the machine). A scaling check tiles scans into clouds of up to ``--scale-points`` points and
reports encode + decode time and peak traced memory per size.

Usage::

    python tools/bench_pointcloud.py [--json] [--scans learn0 learn20] [--qps 51 34 22]
                                     [--scale-points 2000000] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from nmc.eval.bdrate import bd_rate
from nmc.eval.metrics import attribute_psnr
from nmc.pointcloud import PointCloud, decode_cloud, encode_cloud_with_stats, load_cloud

CTC_QPS = (51, 46, 40, 34, 28, 22)
ANCHORS = "anchors/tmc13_v23_raht_osd_learn.jsonl"
REPO = Path(__file__).resolve().parents[1]


def _data_dir(given: str | None) -> Path:
    return Path(given or os.environ.get("NMC_SHARED_DATA", REPO.parent / "shared" / "data"))


def _anchor_points(data: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    path = data / ANCHORS
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            out.setdefault(row["cloud"], []).append(row)
    return out


def _code(cloud: PointCloud, qp: int) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    data, stats = encode_cloud_with_stats(cloud, qp)
    encoded, cpu_encoded = time.perf_counter(), time.process_time()
    dec = decode_cloud(data)
    decoded, cpu_decoded = time.perf_counter(), time.process_time()
    psnr = attribute_psnr(cloud.xyz, cloud.rgb, dec.xyz, dec.rgb)
    return {
        "qp": qp,
        "attr_bpp": stats.attribute_bits / cloud.points,
        "geom_bpp": stats.geometry_bits / cloud.points,
        "total_bpp": stats.total_bits / cloud.points,
        "psnr_y": psnr["y"],
        "psnr_u": psnr["u"],
        "psnr_v": psnr["v"],
        "psnr_yuv": psnr["yuv"],
        "encode_s": encoded - started,
        "decode_s": decoded - encoded,
        "encode_cpu_s": cpu_encoded - cpu_started,
        "decode_cpu_s": cpu_decoded - cpu_encoded,
    }


def bench_scan(path: Path, qps: list[int], anchors: list[dict]) -> dict:
    """Every QP of one scan, plus BD-rate and geometry ratio against ``anchors``."""
    cloud, info = load_cloud(path)
    rows = [_code(cloud, qp) for qp in qps]
    out = {"scan": path.stem, "points": cloud.points, "dropped": info.dropped_points, "rd": rows}
    # Medians over QPs, wall and CPU time: a run may share the CPUs with other work.
    seconds = float(np.median([r["encode_s"] + r["decode_s"] for r in rows]))
    cpu = float(np.median([r["encode_cpu_s"] + r["decode_cpu_s"] for r in rows]))
    out["codec_s_per_200k"] = seconds * 200_000 / cloud.points
    out["codec_cpu_s_per_200k"] = cpu * 200_000 / cloud.points
    if len(anchors) >= 4 and len(rows) >= 4:
        anchors = sorted(anchors, key=lambda r: r["qp"])
        out["bd_rate_yuv_pct"] = bd_rate(
            [a["attr_bpp"] for a in anchors],
            [a["psnr_yuv"] for a in anchors],
            [r["attr_bpp"] for r in rows],
            [r["psnr_yuv"] for r in rows],
        )
        tmc13_geometry = float(np.mean([a["total_bpp"] - a["attr_bpp"] for a in anchors]))
        out["geometry_vs_tmc13"] = rows[0]["geom_bpp"] / tmc13_geometry
        out["anchor_points"] = anchors[0]["points"]
    return out


def _tiled(clouds: list[PointCloud], points: int) -> PointCloud:
    """Copies of ``clouds`` side by side on a grid until ``points`` points (cut to size)."""
    xyz, rgb, total, i = [], [], 0, 0
    span = int(max(c.xyz.max() for c in clouds)) + 1
    while total < points:
        cloud = clouds[i % len(clouds)]
        offset = np.array([(i % 4) * span, ((i // 4) % 4) * span, (i // 16) * span])
        xyz.append(cloud.xyz + offset.astype(np.int32))
        rgb.append(cloud.rgb)
        total += cloud.points
        i += 1
    return PointCloud(np.concatenate(xyz)[:points], np.concatenate(rgb)[:points])


def bench_scaling(clouds: list[PointCloud], max_points: int, qp: int = 34) -> list[dict]:
    """Encode + decode time and peak traced memory of tiled clouds of growing size."""
    sizes = sorted({max_points // 8, max_points // 4, max_points // 2, max_points})
    out = []
    for size in sizes:
        cloud = _tiled(clouds, size)
        tracemalloc.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        data, _ = encode_cloud_with_stats(cloud, qp)
        encoded = time.perf_counter()
        dec = decode_cloud(data)
        decoded, cpu_decoded = time.perf_counter(), time.process_time()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert dec.points == cloud.points
        out.append(
            {
                "points": cloud.points,
                "encode_s": encoded - started,
                "decode_s": decoded - encoded,
                "us_per_point": 1e6 * (decoded - started) / cloud.points,
                "cpu_us_per_point": 1e6 * (cpu_decoded - cpu_started) / cloud.points,
                "peak_traced_mib": peak / 2**20,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--data", default=None, help="shared data folder (../shared/data)")
    parser.add_argument("--scans", nargs="*", default=None, help="scan names (learn0 ...)")
    parser.add_argument("--qps", nargs="*", type=int, default=list(CTC_QPS))
    parser.add_argument("--scale-points", type=int, default=2_000_000,
                        help="largest tiled cloud of the scaling check (0 = skip)")  # fmt: skip
    args = parser.parse_args(argv)
    data = _data_dir(args.data)
    anchors = _anchor_points(data)
    scans = args.scans or sorted(anchors) or ["learn0", "learn20", "learn30", "learn40"]
    paths = [data / "osd" / f"{name}.pcd" for name in scans]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"bench_pointcloud: missing scans {missing}", file=sys.stderr)
        return 2
    results = []
    for path in paths:
        results.append(bench_scan(path, args.qps, anchors.get(path.stem, [])))
        if not args.json:
            _print_scan(results[-1])
    report: dict = {"scans": results}
    with_bd = [r for r in results if "bd_rate_yuv_pct" in r]
    if with_bd:
        report["mean_bd_rate_yuv_pct"] = float(np.mean([r["bd_rate_yuv_pct"] for r in with_bd]))
        report["mean_geometry_vs_tmc13"] = float(np.mean([r["geometry_vs_tmc13"] for r in with_bd]))
    for key in ("codec_s_per_200k", "codec_cpu_s_per_200k"):
        report["median_" + key] = float(np.median([r[key] for r in results]))
    if args.scale_points:
        clouds = [load_cloud(p)[0] for p in paths]
        report["scaling"] = bench_scaling(clouds, args.scale_points)
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report)
    return 0


def _print_scan(result: dict) -> None:
    print(f"\n{result['scan']}: {result['points']} points")
    print(f"{'QP':>3} {'attr bpp':>9} {'geom bpp':>9} {'Y':>6} {'U':>6} {'V':>6} {'YUV':>6} "
          f"{'enc s':>6} {'dec s':>6}")  # fmt: skip
    for r in result["rd"]:
        print(
            f"{r['qp']:>3} {r['attr_bpp']:9.4f} {r['geom_bpp']:9.4f} {r['psnr_y']:6.2f} "
            f"{r['psnr_u']:6.2f} {r['psnr_v']:6.2f} {r['psnr_yuv']:6.2f} "
            f"{r['encode_s']:6.2f} {r['decode_s']:6.2f}"
        )
    if "bd_rate_yuv_pct" in result:
        print(f"YUV BD-rate vs TMC13 RAHT: {result['bd_rate_yuv_pct']:+.1f} %   "
              f"geometry / TMC13: {result['geometry_vs_tmc13']:.3f}")  # fmt: skip


def _print_summary(report: dict) -> None:
    print()
    if "mean_bd_rate_yuv_pct" in report:
        print(f"mean YUV BD-rate vs TMC13: {report['mean_bd_rate_yuv_pct']:+.1f} %")
        print(f"mean geometry / TMC13: {report['mean_geometry_vs_tmc13']:.3f}")
    print(f"encode + decode per 200k points (median): {report['median_codec_s_per_200k']:.2f} s "
          f"wall, {report['median_codec_cpu_s_per_200k']:.2f} s CPU")  # fmt: skip
    for row in report.get("scaling", []):
        print(f"tiled {row['points']:>8} points: enc {row['encode_s']:6.2f} s, dec "
              f"{row['decode_s']:6.2f} s, {row['us_per_point']:.2f} us/point "
              f"({row['cpu_us_per_point']:.2f} CPU), peak traced "
              f"{row['peak_traced_mib']:.0f} MiB")  # fmt: skip
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
