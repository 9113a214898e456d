"""adapt() heads-only (no network step) on validation scans (cached features): BD vs codec."""
import os, sys, time, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat.filter import load_for_stream  # msgat_v4, as measured
from nmc.pointcloud.msgat.filter import PostFilter
from nmc.pointcloud.msgat import adapt as A
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
from nmc.eval.bdrate import bd_rate
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
# valh3.log: with SPARSE=3, the encoder also weighed head rows changed on 1-3 greedily chosen
# coefficients (a `_sparse_rows` option of adapt._channel_candidates, not kept)
W = np.array([6, 1, 1]) / 8
WEIGHTS = os.environ.get("WEIGHTS")  # another weights file (features cached in FEAT)
FEAT = Path(os.environ.get("FEAT", R5 / "feat"))
FEAT.mkdir(exist_ok=True)
bds = []
for s in sys.argv[1].split(","):
    rows = []
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], [51, 46, 40, 34, 28, 22], R5 / "cache"):
        f = PostFilter.from_file(WEIGHTS) if WEIGHTS else load_for_stream(5)
        fn = FEAT / f"{s}_{t.qp}.npy"
        if not fn.exists():
            np.save(fn, f.features(t.xyz, rgb_to_ycbcr(t.decoded), t.step))
        H = np.load(fn)
        f.features = lambda *a, **k: H
        t0 = time.time()
        ch = A.adapt(f, t.xyz, t.original, t.decoded, t.step, t.attribute_bits, kinds=A.KINDS[:-1])
        r = rgb_to_ycbcr(t.original)
        base = W @ (10 * np.log10(255**2 / ((rgb_to_ycbcr(t.decoded) - r) ** 2).mean(0)))
        rows.append((t.attribute_bits, base, t.attribute_bits + 8 * len(ch.payload), base + ch.gain_db["yuv"]))
        print(s, t.qp, t.attribute_bits, ch.kind, 8 * len(ch.payload), f"{ch.gain_db['yuv']:+.4f}", f"{time.time()-t0:.1f}s", flush=True)
    rows = np.array(rows)
    bds.append(bd_rate(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]))
    print(s, "BD", bds[-1], flush=True)
print("mean BD", np.mean(bds))
