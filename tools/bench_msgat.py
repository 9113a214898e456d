"""Benchmark the MS-GAT post-filter on scans held out from its training.

For every held-out scan and CTC QP: code with nmc's point-cloud codec, decode, filter, and
measure attribute PSNR (Y, Cb, Cr, YUV = (6Y + U + V) / 8, BT.709, peak 255) against the
source. Reports, per scan and on average, the BD-rate (PCHIP on log attribute bpp) of codec +
MS-GAT against the codec alone, the PSNR gain per QP, the filter's seconds per 100 k points,
and, in a child process, the peak memory of filtering a 2 M-point cloud made by tiling the
scans.

    python tools/bench_msgat.py --json              # shipped weights, held-out scans
    python tools/bench_msgat.py --weights model.pt --scans learn0,learn17 --skip-memory
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
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nmc.eval.bdrate import bd_rate
from nmc.eval.metrics import attribute_psnr
from nmc.pointcloud.msgat import PostFilter, load_default
from nmc.pointcloud.msgat.config import HELD_OUT_SCANS
from nmc.pointcloud.msgat.data import Triple, load_triples
from nmc.pointcloud.qp import CTC_QPS

CHANNELS = ("y", "u", "v", "yuv")
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "osd"


def _filter(args: argparse.Namespace) -> PostFilter:
    filt = PostFilter.from_file(args.weights) if args.weights else load_default()
    if filt is None:
        sys.exit("no shipped MS-GAT weights (nmc/models/msgat_v1.pt); pass --weights")
    return filt


def _scan_paths(args: argparse.Namespace) -> list[Path]:
    shared = os.environ.get("NMC_SHARED_DATA")
    data = args.data or (Path(shared) / "osd" if shared else DEFAULT_DATA)
    paths = []
    for name in args.scans.split(","):
        hits = [data / f"{name}{s}" for s in (".pcd", ".ply") if (data / f"{name}{s}").is_file()]
        if not hits:
            sys.exit(f"scan {name} not found in {data.resolve()}")
        paths.append(hits[0])
    return paths


def _evaluate(filt: PostFilter, triples: list[Triple], device: str) -> tuple[dict, dict]:
    """Per-scan RD points and BD-rates, plus filter timing (wall and process CPU seconds)."""
    seconds, cpu, points = 0.0, 0.0, 0
    per_scan: dict[str, dict] = {}
    for triple in triples:
        start, start_cpu = time.perf_counter(), time.process_time()
        out = filt.apply(triple.xyz, triple.decoded, triple.step, device=device)
        seconds += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        points += len(triple.xyz)
        before = attribute_psnr(triple.xyz, triple.original, triple.xyz, triple.decoded)
        after = attribute_psnr(triple.xyz, triple.original, triple.xyz, out)
        entry = per_scan.setdefault(triple.scan, {"points": len(triple.xyz), "rd": []})
        entry["rd"].append(
            {
                "qp": triple.qp,
                "attribute_bpp": triple.attribute_bits / len(triple.xyz),
                "total_bpp": triple.bits / len(triple.xyz),
                "psnr_codec": before,
                "psnr_msgat": after,
                "gain_db": {c: after[c] - before[c] for c in CHANNELS},
            }
        )
    for entry in per_scan.values():
        rd = sorted(entry["rd"], key=lambda r: r["attribute_bpp"])
        rate = [r["attribute_bpp"] for r in rd]
        entry["bd_rate_percent"] = {
            c: bd_rate(
                rate, [r["psnr_codec"][c] for r in rd], rate, [r["psnr_msgat"][c] for r in rd]
            )
            for c in CHANNELS
        }
    speed = {
        "seconds_per_100k_points": seconds / points * 1e5,
        "seconds_per_200k_points": seconds / points * 2e5,
        # CPU seconds of this process (all threads): what the filter costs whatever else
        # the machine is running; wall time on a shared machine also counts the waiting.
        "cpu_seconds_per_200k_points": cpu / points * 2e5,
        "points_filtered": points,
        "load_average_1min": os.getloadavg()[0],
    }
    return per_scan, speed


def _summary(per_scan: dict) -> dict:
    bd = {c: float(np.mean([s["bd_rate_percent"][c] for s in per_scan.values()])) for c in CHANNELS}
    gains: dict[int, dict[str, list[float]]] = {}
    for scan in per_scan.values():
        for r in scan["rd"]:
            for c in CHANNELS:
                gains.setdefault(r["qp"], {}).setdefault(c, []).append(r["gain_db"][c])
    per_qp = {
        str(qp): {c: float(np.mean(v)) for c, v in by_c.items()}
        for qp, by_c in sorted(gains.items(), reverse=True)
    }
    return {
        "bd_rate_percent": bd,
        "gain_db_per_qp": per_qp,
        "negative_qps_yuv": [qp for qp, g in per_qp.items() if g["yuv"] < 0],
    }


def _memory_probe(args: argparse.Namespace) -> dict:
    """Peak RSS of a fresh process that filters a tiled cloud of ``--tile-points`` points."""
    cmd = [sys.executable, __file__, "--probe", "--scans", args.scans, "--qps", args.qps]
    cmd += ["--tile-points", str(args.tile_points), "--threads", str(args.threads)]
    if args.weights:
        cmd += ["--weights", str(args.weights)]
    if args.data:
        cmd += ["--data", str(args.data)]
    if args.cache:
        cmd += ["--cache", str(args.cache)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["probe failed"]}
    return json.loads(done.stdout)


def _probe(args: argparse.Namespace) -> None:
    filt = _filter(args)
    qp = int(args.qps.split(",")[len(args.qps.split(",")) // 2])
    triples = load_triples(_scan_paths(args), [qp], args.cache)
    xyz, rgb, step = [], [], []
    offset, total = 0, 0
    while total < args.tile_points:
        for t in triples:
            shift = np.array([offset, 0, 0], dtype=np.int64)
            xyz.append(t.xyz.astype(np.int64) + shift)
            rgb.append(t.decoded)
            step.append(t.step)
            offset += int(t.xyz[:, 0].max()) + 2
            total += len(t.xyz)
            if total >= args.tile_points:
                break
    xyz = np.concatenate(xyz)[: args.tile_points].astype(np.int32)
    rgb = np.concatenate(rgb)[: args.tile_points]
    step = np.concatenate(step)[: args.tile_points]
    del triples
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start, start_cpu = time.perf_counter(), time.process_time()
    filt.apply(xyz, rgb, step)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "points": int(len(xyz)),
        "qp": qp,
        "peak_rss_gib": round(peak, 3),
        "rss_before_filter_gib": round(base, 3),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
    }
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="scan folder [../shared/data/osd]")
    p.add_argument("--scans", default=",".join(HELD_OUT_SCANS), help="held-out scan names")
    p.add_argument("--qps", default=",".join(map(str, CTC_QPS)))
    p.add_argument("--weights", type=Path, default=None, help="weights file [shipped]")
    p.add_argument("--cache", type=Path, default=None, help="cache of coded scans (.npz)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--tile-points", type=int, default=2_000_000, help="memory probe size")
    p.add_argument("--skip-memory", action="store_true", help="no 2 M-point memory probe")
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        _probe(args)
        return 0
    filt = _filter(args)
    qps = [int(q) for q in args.qps.split(",")]
    triples = load_triples(_scan_paths(args), qps, args.cache)
    per_scan, speed = _evaluate(filt, triples, args.device)
    weights = args.weights or Path(sys.modules[PostFilter.__module__].DEFAULT_WEIGHTS)
    report = {
        "weights": {"path": str(weights), "bytes": weights.stat().st_size},
        "threads": args.threads,
        "scans": per_scan,
        "average": _summary(per_scan),
        "speed": speed,
    }
    if not args.skip_memory:
        report["memory"] = _memory_probe(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        avg = report["average"]
        print("BD-rate % (codec+MS-GAT vs codec):", avg["bd_rate_percent"])
        for qp, g in avg["gain_db_per_qp"].items():
            print(f"QP {qp}: gain dB", {c: round(v, 3) for c, v in g.items()})
        print("speed:", report["speed"])
        print("memory:", report.get("memory"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
