"""Real adapt() on validation scans (base features cached): choices, bits, BD-rate vs codec."""

import os, sys, time, numpy as np, torch

torch.set_num_threads(1)
import os
from pathlib import Path

WORK = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5"))  # caches of coded scans, features
CACHE, FEAT = WORK / "cache", WORK / "feat"
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat import adapt as A
from nmc.pointcloud.msgat.finetune import FinetuneConfig
from nmc.pointcloud.msgat.update import read_filter_update
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
from nmc.eval.bdrate import bd_rate

W = np.array([6, 1, 1]) / 8
cfg = eval(os.environ.get("CFG", "FinetuneConfig()"))
if os.environ.get("MINRATE"):
    A.MIN_NETWORK_RATE = int(os.environ["MINRATE"])
qps = [int(q) for q in os.environ.get("QPS", "51,46,40,34,28,22").split(",")]
CHECK = os.environ.get("CHECK")
for s in sys.argv[1].split(","):
    rows = []
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, CACHE):
        f = load_default()
        fn = Path(f"{FEAT}/{s}_{t.qp}.npy")
        if not fn.exists():
            np.save(fn, f.features(t.xyz, rgb_to_ycbcr(t.decoded), t.step))
        H = np.load(fn)
        f.features = lambda *a, **k: H
        t0 = time.time()
        ch = A.adapt(f, t.xyz, t.original, t.decoded, t.step, t.attribute_bits, finetune=cfg)
        dt = time.time() - t0
        if CHECK and ch.kind == "network":
            g = load_default()
            up = read_filter_update(ch.payload, g.reference)
            out = g.apply(t.xyz, t.decoded, t.step, update=up)
            gain = A.psnr_gain(t.original, t.decoded, out)
            print("   check", W @ gain, ch.gain_db["yuv"])
        r = rgb_to_ycbcr(t.original)
        base = W @ (10 * np.log10(255**2 / ((rgb_to_ycbcr(t.decoded) - r) ** 2).mean(0)))
        rows.append(
            (
                t.attribute_bits,
                base,
                t.attribute_bits + 8 * len(ch.payload),
                base + ch.gain_db["yuv"],
            )
        )
        print(
            s,
            t.qp,
            t.attribute_bits,
            ch.kind,
            8 * len(ch.payload),
            f"{ch.gain_db['yuv']:+.3f}",
            f"{dt:.1f}s",
            {
                k: (v["bits"], round(v["gain_db"]["yuv"], 3), round(v["score"], 4))
                for k, v in ch.candidates.items()
            },
            flush=True,
        )
    if len(rows) >= 4:
        rows = np.array(rows)
        print(s, "BD", bd_rate(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]), flush=True)
