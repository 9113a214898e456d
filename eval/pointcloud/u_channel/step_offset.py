"""Shipped filter fed step*2^o: PSNR-YUV gain (gated, and with LS per-channel strengths)."""
# learn28n: the noisy stand-in of network_step/noisy.py. Run: python step_offset.py learn28n,learn5,learn28
import os, sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat.filter import load_default
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
W = np.array([6, 1, 1]) / 8
OFFS = [float(x) for x in os.environ.get("OFFS", "-2,-1,-0.5,0,0.5,1").split(",")]
f = load_default()
def psnr(a, r):
    return 10 * np.log10(255**2 / ((a - r) ** 2).mean(0))
for s in sys.argv[1].split(","):
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], [51, 46, 40, 34, 28, 22], R5 / "cache"):
        r = rgb_to_ycbcr(t.original); d = rgb_to_ycbcr(t.decoded)
        base = psnr(d, r)
        out = []
        for o in OFFS:
            st = (t.step * 2.0**o).astype(np.float32)
            H = f.features(t.xyz, d, st)
            res = f.head_residual(H, st)
            g = f.gating(t.step)  # true-step gating
            y1 = d + g * res
            gs = W @ (psnr(y1, r) - base)
            # LS strength per channel
            k = np.clip(((r - d) * res).sum(0) / np.maximum((res**2).sum(0), 1e-9), 0, 2)
            gl = W @ (psnr(d + k * res, r) - base)
            out.append(f"o{o:+.1f}:{gs:+.3f}/{gl:+.3f}")
        print(s, t.qp, t.attribute_bits, " ".join(out), flush=True)
