"""Oracle of a codebook of head rows: leave-one-scan-out free heads of the other val scans.

Also the loader of per-channel normal equations that sparse.py reuses.
"""
import os, sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat.filter import load_for_stream  # msgat_v4, as measured
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
W = np.array([6, 1, 1]) / 8


def load(scans, qps):
    """Per (scan, QP): X^T X, X^T e per channel (X = [features, 1] * amplitude), the free
    head rows, the error energy and the shipped gating; and the shipped head rows [3, 33]."""
    f = load_for_stream(5); m = f.model
    data = {}
    for s in scans:
        for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, R5 / "cache"):
            fn = R5 / "feat" / f"{s}_{t.qp}.npy"
            ycc = rgb_to_ycbcr(t.decoded)
            if not fn.exists():
                np.save(fn, f.features(t.xyz, ycc, t.step))
            H = np.load(fn).astype(np.float64)
            err = rgb_to_ycbcr(t.original).astype(np.float64) - ycc
            with torch.no_grad():
                amp = m.amplitude(torch.from_numpy(t.step)).double().numpy()
            X = np.concatenate([H, np.ones((len(H), 1))], 1)
            G = [(X * amp[:, c:c+1]).T @ (X * amp[:, c:c+1]) for c in range(3)]
            r = [(X * amp[:, c:c+1]).T @ err[:, c] for c in range(3)]
            free = [np.linalg.solve(G[c] + 1e-6 * np.mean(np.diag(G[c])) * np.eye(33), r[c]) for c in range(3)]
            e2 = (err ** 2).sum(0)
            data[(s, t.qp)] = dict(G=G, r=r, e2=e2, free=free, gated=f.gating(t.step)[0], n=len(H), bits=int(t.attribute_bits))
    sh = torch.cat([m.head.weight, m.head.bias[:, None]], 1).detach().double().numpy()
    return data, sh


def sse(d, c, w):  # error energy after removing row w residual
    return d["e2"][c] - 2 * w @ d["r"][c] + w @ d["G"][c] @ w


if __name__ == "__main__":
    scans = sys.argv[1].split(","); qps = [51, 46, 40, 34, 28, 22]
    data, sh = load(scans, qps)
    for s in scans:
        for q in qps:
            d = data[(s, q)]
            out = []
            for c in range(3):
                base = d["e2"][c]
                gated = sse(d, c, sh[c] * d["gated"][c])
                book = [d2["free"][c] for (s2, q2), d2 in data.items() if s2 != s]
                best = min(sse(d, c, w) for w in book + [sh[c] * d["gated"][c], 0 * sh[c]])
                freec = sse(d, c, d["free"][c])
                out.append([10 * np.log10(base / x) for x in (gated, best, freec)])
            out = np.array(out)  # [3, 3] channel x (gated, book, free)
            print(s, q, d["bits"], "gated/book/free YUV", np.round(W @ out, 3), "per ch book-gated", np.round(out[:, 1] - out[:, 0], 3), flush=True)
