"""Benchmark the MS-GAT post-filter on scans held out from its training and tuning.

For every held-out scan and CTC QP the cloud goes through the real point-cloud encoder
(default options: MS-GAT on, content adaptation ``auto``) and decoder, as ``nmc encode`` /
``nmc decode`` run it. Three variants are reported with their attribute bits (the update
included) and attribute PSNR Y / U / V / YUV (BT.709, peak 255, YUV = (6Y + U + V) / 8):

- ``codec``: the same stream decoded with ``--postfilter none``;
- ``shipped``: the shipped filter and gating on that stream (no update, the bits of
  ``codec``), as the encoder measured it on exactly the decoder's output;
- ``adapted``: the default stream decoded with no options (the encoder's per-cloud choice:
  none, shipped, strengths or a per-channel update; its update bits counted).

Per scan and on average: BD-rate (PCHIP on log attribute bpp) of each variant against
``codec`` and, where ``../shared/data/anchors`` has the scan, against TMC13 v23 RAHT; the
decoder's seconds (decode + filter) and the encoder's adaptation seconds per 200 k points;
in a child process, the peak memory of filtering (and adapting to) a 2 M-point tiled cloud.

    python tools/bench_msgat.py --json                    # shipped weights, held-out scans
    python tools/bench_msgat.py --scans learn0 --qps 40,22 --skip-memory
    python tools/bench_msgat.py --json --jobs 3 --threads 1   # scans in parallel
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY below must be set before torch is imported)
from __future__ import annotations

import os

# On a machine shared with other jobs, OpenMP threads that spin while waiting for each other
# make 2-thread timings several times slower than 1-thread ones; passive waiting measures
# the filter rather than the contention. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from nmc.bitstream import unpack
from nmc.errors import InputError
from nmc.eval.bdrate import bd_rate
from nmc.eval.metrics import attribute_psnr
from nmc.pointcloud import PointCloud, read_cloud
from nmc.pointcloud import codec as plugin
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat.adapt import adapt
from nmc.pointcloud.msgat.config import HELD_OUT_SCANS
from nmc.pointcloud.msgat.data import match_order
from nmc.pointcloud.msgat.filter import DEFAULT_WEIGHTS
from nmc.pointcloud.qp import CTC_QPS

CHANNELS = ("y", "u", "v", "yuv")
VARIANTS = ("codec", "shipped", "adapted")
REPO = Path(__file__).resolve().parents[1]
# The four anchor scans (one per mOSD scene type) and a scan from another sensor.
DEFAULT_SCANS = ("learn0", "learn20", "learn30", "learn40", "pcl/table_scene_mug_stereo_textured")
ANCHORS = "anchors/tmc13_v23_raht_osd_learn.jsonl"


def _data_dir(given: Path | None) -> Path:
    return Path(given or os.environ.get("NMC_SHARED_DATA", REPO.parent / "shared" / "data"))


def _scan_path(data: Path, name: str) -> Path:
    """``name`` is an mOSD scan (``learn7``) or a path below the data folder without suffix."""
    base = data / name if "/" in name else data / "osd" / name
    for suffix in (".pcd", ".ply"):
        if base.with_suffix(suffix).is_file():
            return base.with_suffix(suffix)
    sys.exit(f"scan {name} not found below {data.resolve()}")


def _anchors(data: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    path = data / ANCHORS
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out.setdefault(row["cloud"], []).append(row)
    return out


def _point(cloud: PointCloud, qp: int) -> dict:
    """One scan at one QP: RD entry with decode (filter included) and encode timings."""
    cpu = time.process_time()
    data, report = plugin.encode(cloud, qp=qp)
    encode_cpu = time.process_time() - cpu
    container = unpack(data)
    start, cpu = time.perf_counter(), time.process_time()
    adapted, dreport = plugin.decode(container)
    decode_seconds, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
    plain = plugin.decode(container, postfilter="none")[0]
    perm = match_order(np.asarray(cloud.xyz), np.asarray(plain.xyz))
    original = np.asarray(cloud.rgb)[perm]
    psnr_codec = attribute_psnr(plain.xyz, original, plain.xyz, plain.rgb)
    psnr_adapted = attribute_psnr(plain.xyz, original, plain.xyz, adapted.rgb)
    shipped_gain = report["filter_candidates"]["shipped"]["gain_db"]
    bpp = report["attribute_bits"] / report["points"]
    codec_bpp = (report["attribute_bits"] - report["filter_update_bits"]) / report["points"]
    entry = {
        "qp": qp,
        "points": report["points"],
        "choice": report["filter_update"],
        "update_bits": report["filter_update_bits"],
        "candidates": report["filter_candidates"],
        "codec": {"attribute_bpp": codec_bpp, "psnr": psnr_codec},
        "shipped": {
            "attribute_bpp": codec_bpp,
            "psnr": {c: psnr_codec[c] + shipped_gain[c] for c in CHANNELS},
        },
        "adapted": {"attribute_bpp": bpp, "psnr": psnr_adapted},
        "encoder_gain_db": report["filter_gain_db"],
        "decode_seconds": round(decode_seconds, 2),
        "decode_cpu_seconds": round(decode_cpu, 2),
        "adapt_seconds": round(report["filter_adapt_seconds"], 2),
        "encode_cpu_seconds": round(encode_cpu, 2),
        "decoder_postfilter": dreport["postfilter"],
    }
    return entry


def _checked_bd(*curves: list[float]) -> float | None:
    """:func:`bd_rate`, or None where a curve is not monotone (a chroma PSNR that falls
    with rate, for instance): no BD-rate exists there."""
    try:
        return bd_rate(*curves)
    except InputError:
        return None


def _bd(rd: list[dict], anchor: str, test: str, channel: str) -> float | None:
    pts = sorted(rd, key=lambda r: r[anchor]["attribute_bpp"])
    return _checked_bd(
        [r[anchor]["attribute_bpp"] for r in pts],
        [r[anchor]["psnr"][channel] for r in pts],
        [r[test]["attribute_bpp"] for r in pts],
        [r[test]["psnr"][channel] for r in pts],
    )


def _vs_tmc13(rd: list[dict], rows: list[dict], variant: str) -> dict[str, float | None]:
    rows = sorted(rows, key=lambda r: r["attr_bpp"])
    pts = sorted(rd, key=lambda r: r[variant]["attribute_bpp"])
    return {
        c: _checked_bd(
            [r["attr_bpp"] for r in rows],
            [r[f"psnr_{c}"] for r in rows],
            [p[variant]["attribute_bpp"] for p in pts],
            [p[variant]["psnr"][c] for p in pts],
        )
        for c in CHANNELS
    }


def _scan(job: tuple[str, Path, list[int], dict, int]) -> tuple[str, dict, dict]:
    """One scan at every QP (run in a worker process): ``(name, results, timing)``."""
    name, path, qps, anchors, threads = job
    torch.set_num_threads(threads)
    cloud = read_cloud(path, bits=10)
    rd = [_point(cloud, qp) for qp in qps]
    filtered = [r for r in rd if r["decoder_postfilter"] != "none"]
    timing = {
        "decode_seconds": sum(r["decode_seconds"] for r in filtered),
        "decode_cpu_seconds": sum(r["decode_cpu_seconds"] for r in filtered),
        "filtered_points": sum(r["points"] for r in filtered),
        "adapt_seconds": sum(r["adapt_seconds"] for r in rd),
        "encode_cpu_seconds": sum(r["encode_cpu_seconds"] for r in rd),
        "points": cloud.points * len(qps),
    }
    out = {
        "points": cloud.points,
        "rd": rd,
        "never_worse": all(r["adapted"]["psnr"]["yuv"] >= r["codec"]["psnr"]["yuv"] for r in rd),
    }
    if len(qps) < 4:  # BD-rates need 4 rate points
        return Path(name).name, out, timing
    out["bd_rate_vs_codec_percent"] = {
        v: {c: _bd(rd, "codec", v, c) for c in CHANNELS} for v in VARIANTS[1:]
    }
    key = Path(name).name
    if key in anchors:
        out["bd_rate_vs_tmc13_percent"] = {v: _vs_tmc13(rd, anchors[key], v) for v in VARIANTS}
        out["points_match_anchors"] = all(r["points"] == cloud.points for r in anchors[key])
    return key, out, timing


def _average(per_scan: dict, key: str) -> dict:
    scans = [s[key] for s in per_scan.values() if key in s]
    if not scans:
        return {}

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    return {v: {c: mean([s[v][c] for s in scans]) for c in CHANNELS} for v in scans[0]} | {
        "scans": len(scans)
    }


def _probe(args: argparse.Namespace) -> None:
    """Child process: peak RSS of filtering and adapting to a tiled ``--tile-points`` cloud."""
    filt = load_default()
    data = _data_dir(args.data)
    parts, offset, total = [], 0, 0
    while total < args.tile_points:
        for name in DEFAULT_SCANS[:4]:
            cloud = read_cloud(_scan_path(data, name), bits=10)
            xyz = np.asarray(cloud.xyz, np.int64) + np.array([offset, 0, 0])
            parts.append((xyz, np.asarray(cloud.rgb)))
            offset += int(cloud.xyz[:, 0].max()) + 2
            total += cloud.points
            if total >= args.tile_points:
                break
    xyz = np.concatenate([p[0] for p in parts])[: args.tile_points].astype(np.int32)
    rgb = np.concatenate([p[1] for p in parts])[: args.tile_points]
    del parts
    rng = np.random.default_rng(0)
    noisy = np.clip(rgb.astype(np.int16) + rng.integers(-6, 7, rgb.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    step = np.full(len(xyz), 16.0, np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    filt.apply(xyz, noisy, step)
    filter_seconds = time.perf_counter() - start
    filter_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    adapt(filt, xyz, rgb, noisy, step, attribute_bits=len(xyz))
    adapt_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "points": int(len(xyz)),
        "rss_before_gib": round(base, 3),
        "filter_peak_rss_gib": round(filter_peak, 3),
        "adapt_peak_rss_gib": round(peak, 3),
        "filter_seconds": round(filter_seconds, 1),
        "adapt_seconds": round(adapt_seconds, 1),
    }
    print(json.dumps(result))


def _memory_probe(args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--probe", "--tile-points", str(args.tile_points)]
    cmd += ["--threads", str(args.threads)] + (["--data", str(args.data)] if args.data else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["probe failed"]}
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="shared data folder [../shared/data]")
    p.add_argument("--scans", default=",".join(DEFAULT_SCANS), help="held-out scans")
    p.add_argument("--qps", default=",".join(map(str, CTC_QPS)))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads per process")
    p.add_argument("--jobs", type=int, default=1, help="scans coded in parallel processes")
    p.add_argument("--tile-points", type=int, default=2_000_000, help="memory probe size")
    p.add_argument("--skip-memory", action="store_true", help="no 2 M-point memory probe")
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        _probe(args)
        return 0
    if load_default() is None:
        sys.exit(f"no shipped MS-GAT weights ({DEFAULT_WEIGHTS})")
    data = _data_dir(args.data)
    names = [n for n in args.scans.split(",") if n]
    other_sensor = {Path(n).name for n in DEFAULT_SCANS[4:]}
    leaked = sorted({Path(n).name for n in names} - set(HELD_OUT_SCANS) - other_sensor)
    qps = [int(q) for q in args.qps.split(",")]
    anchors = _anchors(data)
    jobs = [(n, _scan_path(data, n), qps, anchors, args.threads) for n in names]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_scan, jobs))
    per_scan = {name: out for name, out, _ in results}
    totals = {k: sum(t[k] for _, _, t in results) for k in results[0][2]}
    per_200k = 2e5 / max(totals["filtered_points"], 1)
    report = {
        "weights": {"path": str(DEFAULT_WEIGHTS), "bytes": DEFAULT_WEIGHTS.stat().st_size},
        "threads": args.threads,
        "scans_seen_in_training": leaked,
        "scans": per_scan,
        "average": {
            "bd_rate_vs_codec_percent": _average(per_scan, "bd_rate_vs_codec_percent"),
            "bd_rate_vs_tmc13_percent": _average(per_scan, "bd_rate_vs_tmc13_percent"),
            "never_worse": all(s["never_worse"] for s in per_scan.values()),
        },
        "speed": {
            # Wall seconds count the waiting on a machine shared with other work; CPU seconds
            # (all threads of the process) are what the filter costs.
            "decode_seconds_per_200k_points": totals["decode_seconds"] * per_200k,
            "decode_cpu_seconds_per_200k_points": totals["decode_cpu_seconds"] * per_200k,
            "adapt_seconds_per_200k_points": totals["adapt_seconds"] / totals["points"] * 2e5,
            "encode_cpu_seconds_per_200k_points": totals["encode_cpu_seconds"]
            / totals["points"]
            * 2e5,
            "jobs": args.jobs,
            "load_average_1min": os.getloadavg()[0],
        },
    }
    if not args.skip_memory:
        report["memory"] = _memory_probe(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        avg = report["average"]
        for key in ("bd_rate_vs_codec_percent", "bd_rate_vs_tmc13_percent"):
            for variant, values in avg[key].items():
                if variant != "scans":
                    print(key, variant, values)
        print("never worse:", avg["never_worse"], "speed:", report["speed"])
        print("memory:", report.get("memory"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
