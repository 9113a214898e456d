"""finetune_steps variants: per exponent, bits, nonzeros, best gain/score on stepped features."""

import os, sys, time, math, dataclasses, numpy as np, torch

torch.set_num_threads(1)
import os
from pathlib import Path

WORK = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5"))  # caches of coded scans, features
CACHE, FEAT = WORK / "cache", WORK / "feat"
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat import adapt as A
from nmc.pointcloud.msgat.finetune import FinetuneConfig, finetune_steps
from nmc.pointcloud.msgat.stepping import rebuild_weights
from nmc.pointcloud.msgat.update import write_filter_update
from nmc.pointcloud.msgat.filter import _canonical_order
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb

qps = [int(q) for q in sys.argv[2].split(",")]
cfgs = [eval(c) for c in sys.argv[3].split(";")]
f = load_default()


def best_of(filt, feats, t, ycc, target, R, network=None):
    best = (-9, None)
    for kind, up in A._head_updates(
        filt, feats, t.step, target, R, ("shipped", "scalars", "channels")
    ):
        if network is not None:
            up = dataclasses.replace(up, network=network)
        payload, up = write_filter_update(up, f.reference)
        out = ycbcr_to_rgb(
            ycc + up.strengths(filt.gating(t.step)) * filt.head_residual(feats, t.step, up)
        )
        g = A._gain_dict(A.psnr_gain(t.original, t.decoded, out))["yuv"]
        sc = g / 3 - math.log1p(8 * len(payload) / R)
        if sc > best[0]:
            best = (sc, g, 8 * len(payload), kind)
    return best


for s in sys.argv[1].split(","):
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, CACHE):
        fn = Path(f"{FEAT}/{s}_{t.qp}.npy")
        if not fn.exists():
            np.save(fn, f.features(t.xyz, rgb_to_ycbcr(t.decoded), t.step))
        H = np.load(fn)
        ycc = rgb_to_ycbcr(t.decoded)
        target = rgb_to_ycbcr(t.original) - ycc
        R = t.attribute_bits
        b = best_of(f, H, t, ycc, target, R)
        print(
            s, t.qp, R, "base", f"score {b[0]:+.4f} gain {b[1]:+.3f} bits {b[2]} {b[3]}", flush=True
        )
        o = _canonical_order(t.xyz)
        for cfg in cfgs:
            t0 = time.time()
            steps = finetune_steps(
                f.model, t.xyz[o], t.original[o], t.decoded[o], t.step[o], R, f.patches, cfg
            )
            tt = time.time() - t0
            for st in steps:
                nz = sum(int((q != 0).sum()) for q in st.levels if q is not None)
                ng = sum(q is not None for q in st.levels)
                pf = f.stepped(rebuild_weights(st, f.reference))
                feats = pf.features(t.xyz, ycc, t.step)
                r = best_of(pf, feats, t, ycc, target, R, st)
                print(
                    f"   {cfg.rate_bits_per_level} lr{cfg.lr} ep{cfg.epochs} e{st.exponent}: net {st.bits()}b groups {ng} nz {nz} -> score {r[0]:+.4f} ({r[0] - b[0]:+.4f}) gain {r[1]:+.3f} bits {r[2]} {r[3]} train {tt:.0f}s",
                    flush=True,
                )
