"""Sparse changes of the shipped head rows: the best 1..4 coefficients (greedy, joint LS)."""
import sys, numpy as np
from book import W, load, sse
data, sh = load(sys.argv[1].split(","), [int(q) for q in sys.argv[2].split(",")])
for (s, q), d in data.items():
    rows = []; picks = []
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
                if best is None or e < best[0]: best = (e, j, dl)
            S.append(best[1]); out.append(best[0])
            if k == 0: picks.append((best[1], round(float(best[2][0]), 4), round(float(sh[c][best[1]]), 3)))
        out.append(sse(d, c, d["free"][c]))
        rows.append([10 * np.log10(base / x) for x in out])
    rows = np.array(rows)
    print(s, q, d["bits"], "cols: gated, ship1, k1..k4, free; k1 picks (index, change, shipped)", picks)
    for c in range(3):
        print("   ", "YUV"[c], np.round(rows[c], 3), " w-gain vs gated k1..k4,free:", np.round(W[c] * (rows[c, 2:] - rows[c, 0]), 3))
