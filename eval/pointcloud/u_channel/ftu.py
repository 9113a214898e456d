"""Can the network learn U? Per-cloud fine-tune of all weights with channel loss weights."""
import copy, dataclasses, os, sys, numpy as np, torch
torch.set_num_threads(1)
from pathlib import Path
from nmc.pointcloud.msgat.filter import load_for_stream  # msgat_v4, as measured
from nmc.pointcloud.msgat.filter import _patch_graphs, canonical_order
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
R5 = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5")); OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
base = load_for_stream(5)
s, qp = sys.argv[1], int(sys.argv[2])
wts = [float(v) for v in sys.argv[3].split(":")]
epochs = int(sys.argv[4]); lr = float(sys.argv[5])
t = load_triples([Path(f"{OSD}/{s}.pcd")], [qp], R5 / "cache")[0]
order = canonical_order(t.xyz)
xyz = t.xyz[order]
ycc = torch.from_numpy(rgb_to_ycbcr(t.decoded)[order].astype(np.float32))
orig = torch.from_numpy(rgb_to_ycbcr(t.original)[order].astype(np.float32))
st = torch.from_numpy(t.step[order].astype(np.float32))
model = copy.deepcopy(base.model).train()
pc = dataclasses.replace(base.patches, batch_patches=4)
graphs = list(_patch_graphs(xyz, pc, model.config, None))
W = torch.tensor(wts) / sum(wts)
opt = torch.optim.Adam(model.parameters(), lr=lr)
def evaluate():
    model.eval()
    num = torch.zeros(N := len(xyz), 3); den = torch.zeros(N)
    with torch.no_grad():
        for batch, graph in graphs:
            idx = torch.from_numpy(batch.index.reshape(-1)); w = torch.from_numpy(batch.weight.reshape(-1))
            r = model(ycc[idx], st[idx], graph)
            num.index_add_(0, idx, r * w[:, None]); den.index_add_(0, idx, w)
    res = num / den.clamp_min(1e-9)[:, None]
    e0 = ((ycc - orig) ** 2).mean(0); e1 = ((ycc + res - orig) ** 2).mean(0)
    model.train()
    return (10 * torch.log10(e0 / e1)).numpy().round(3)
print(s, qp, wts, "ep0", evaluate(), flush=True)
rng = np.random.default_rng(0)
for ep in range(epochs):
    for i in rng.permutation(len(graphs)):
        batch, graph = graphs[i]
        idx = torch.from_numpy(batch.index.reshape(-1)); w = torch.from_numpy(batch.weight.reshape(-1))
        x = ycc[idx]
        out = x + model(x, st[idx], graph)
        before = ((x - orig[idx]) ** 2 * w[:, None]).sum(0); after = ((out - orig[idx]) ** 2 * w[:, None]).sum(0)
        loss = (W * torch.log((after + 1e-3) / (before + 1e-3))).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    print(s, qp, wts, "ep", ep + 1, evaluate(), flush=True)
