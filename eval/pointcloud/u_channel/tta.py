"""Zero-bit test-time augmentation by colour flips: gain of averaged shipped residuals."""
import os, sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat.filter import load_for_stream  # msgat_v4, as measured
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
OUT = R5 / "feat_flipped"; OUT.mkdir(exist_ok=True)
f = load_for_stream(5)
W = np.array([6, 1, 1]) / 8
FLIPS = {"c": np.array([1, -1, -1.0]), "y": np.array([-1, 1, 1.0]), "a": np.array([-1, -1, -1.0])}
qps = [int(q) for q in sys.argv[2].split(",")]
for s in sys.argv[1].split(","):
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, R5 / "cache"):
        ycc = rgb_to_ycbcr(t.decoded).astype(np.float32)
        ref = rgb_to_ycbcr(t.original).astype(np.float64)
        g = f.gating(t.step)
        res = {"0": f.head_residual(np.load(R5 / "feat" / f"{s}_{t.qp}.npy"), t.step)}
        for k, sign in FLIPS.items():
            fn = OUT / f"{s}_{t.qp}_{k}.npy"
            if not fn.exists():
                x = (128 + (ycc - 128) * sign).astype(np.float32)
                np.save(fn, f.features(t.xyz, x, t.step))
            res[k] = f.head_residual(np.load(fn), t.step) * sign
        def gain(r):
            out = ycbcr_to_rgb(ycc + g * r)
            e0 = ((ycc - ref) ** 2).mean(0); e1 = ((rgb_to_ycbcr(out) - ref) ** 2).mean(0)
            d = 10 * np.log10(e0 / e1)
            return f"{W @ d:+.3f} ({d[0]:+.3f} {d[1]:+.3f} {d[2]:+.3f})"
        combos = {"0": ["0"], "c": ["c"], "y": ["y"], "a": ["a"], "0c": ["0", "c"], "0y": ["0", "y"],
                  "0a": ["0", "a"], "all4": ["0", "c", "y", "a"]}
        print(s, t.qp, {k: gain(sum(res[v] for v in vs) / len(vs)) for k, vs in combos.items()}, flush=True)
