"""U-channel analysis on validation scans (cached features)."""
import os, sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from scipy.spatial import cKDTree
from nmc.pointcloud.msgat.filter import load_for_stream  # msgat_v4, as measured
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5"))
CACHE, FEAT = R5 / "cache", R5 / "feat"
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
qps = [int(q) for q in os.environ.get("QPS", "51,46,40,34,28,22").split(",")]
f = load_for_stream(5)
m = f.model
def gain(err, res):
    return 10*np.log10((err**2).mean(0)/((err-res)**2).mean(0))
def lsq(X, t, ridge=1e-6):
    G = X.T@X; G += ridge*np.mean(np.diag(G))*np.eye(len(G))
    return np.linalg.solve(G, X.T@t)
for s in sys.argv[1].split(","):
    for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, CACHE):
        fn = FEAT / f"{s}_{t.qp}.npy"
        ycc = rgb_to_ycbcr(t.decoded).astype(np.float64)
        if not fn.exists():
            np.save(fn, f.features(t.xyz, rgb_to_ycbcr(t.decoded), t.step))
        H = np.load(fn).astype(np.float64)
        ref = rgb_to_ycbcr(t.original).astype(np.float64)
        err = ref - ycc
        with torch.no_grad():
            amp = m.amplitude(torch.from_numpy(t.step)).double().numpy()
        shipped = f.head_residual(H.astype(np.float32), t.step).astype(np.float64)
        gated = f.gating(t.step) * shipped
        X1 = np.concatenate([H, np.ones((len(H),1))], 1)
        free = np.stack([X1 @ lsq(X1*amp[:, c:c+1], err[:, c]) * amp[:, c] for c in range(3)], 1)
        # extra regressors: decoded ycc centred, knn means of decoded ycc minus ycc
        tree = cKDTree(t.xyz)
        _, idx = tree.query(t.xyz, k=33)
        ex = [ycc - 128]
        for k in (4, 8, 16, 32):
            ex.append(ycc[idx[:, 1:k+1]].mean(1) - ycc)
        E = np.concatenate(ex, 1)
        X2 = np.concatenate([X1, E], 1)
        free2 = np.stack([X2 @ lsq(X2*np.concatenate([amp[:, c:c+1]]*(X1.shape[1]) + [np.ones((len(H),1))]*E.shape[1],1), err[:, c]) * np.concatenate([amp[:, c:c+1]]*(X1.shape[1]) + [np.ones((len(H),1))]*E.shape[1],1) for c in range(3)], 1) if False else None
        # simpler: residual on top of the free head: Wiener term of E on the remaining error
        rem = err - free
        XE = np.concatenate([E, np.ones((len(H),1))], 1)
        wien = np.stack([XE @ lsq(XE, rem[:, c]) for c in range(3)], 1)
        psnr = 10*np.log10(255**2/(err**2).mean(0))
        print(s, t.qp, "bits", int(t.attribute_bits), "psnr", np.round(psnr, 2),
              "errmean", np.round(err.mean(0), 2),
              "shipped", np.round(gain(err, shipped), 3), "gated", np.round(gain(err, gated), 3),
              "free", np.round(gain(err, free), 3), "free+wiener", np.round(gain(err, free+wien), 3), flush=True)
