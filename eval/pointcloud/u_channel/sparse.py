"""Oracle of a codebook of head rows: leave-one-scan-out free heads of the other val scans."""
import sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
f = load_default(); m = f.model
W = np.array([6, 1, 1]) / 8
scans = sys.argv[1].split(","); qps = [int(q) for q in sys.argv[2].split(",")]
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
        pass
sh = torch.cat([m.head.weight, m.head.bias[:, None]], 1).detach().double().numpy()
def sse(d, c, w):
    return d["e2"][c] - 2 * w @ d["r"][c] + w @ d["G"][c] @ w
for (s, q), d in data.items():
    rows = []
    for c in range(3):
        G, r = d["G"][c], d["r"][c]
        base = d["e2"][c]
        out = [sse(d, c, sh[c] * d["gated"][c]), sse(d, c, sh[c])]
        S = []
        for k in range(4):
            best = None
            for j in range(33):
                if j in S: continue
                T = S + [j]
                # delta on T: minimise sse(sh + delta)
                g = G[np.ix_(T, T)]; rr = r[T] - (G @ sh[c])[T]
                dl = np.linalg.solve(g + 1e-9 * np.eye(len(T)), rr)
                w = sh[c].copy(); w[T] += dl
                e = sse(d, c, w)
                if best is None or e < best[0]: best = (e, j)
            S.append(best[1]); out.append(best[0])
        out.append(sse(d, c, d["free"][c]))
        rows.append([10 * np.log10(base / x) for x in out])
    rows = np.array(rows)
    print(s, q, d["bits"], "cols: gated, ship1, k1..k4, free")
    for c in range(3):
        print("   ", "YUV"[c], np.round(rows[c], 3), " w-gain vs gated k1..k4,free:", np.round(W[c] * (rows[c, 2:] - rows[c, 0]), 3))
