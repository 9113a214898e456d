"""Per-cloud fine-tuning of MS-GAT subsets, quantized, then the encoder's head choice."""

import copy, dataclasses, math, os, sys, time
import numpy as np, torch

torch.set_num_threads(1)
import os
from pathlib import Path

WORK = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5"))  # caches of coded scans, features
CACHE, FEAT = WORK / "cache", WORK / "feat"
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat import adapt as A
from nmc.pointcloud.msgat.filter import PostFilter, _patch_graphs, _canonical_order
from nmc.pointcloud.msgat.data import load_triples
from nmc.media.ycbcr import rgb_to_ycbcr
from nmc.weights import encode_update

FEAT.mkdir(parents=True, exist_ok=True)
base = load_default()
W = torch.tensor([6, 1, 1], dtype=torch.float32) / 8


def run_adapt(pf, H, t):
    pf.features = lambda *a, **k: H
    return A.adapt(pf, t.xyz, t.original, t.decoded, t.step, t.attribute_bits)


def select(name, mode):
    if name.startswith("head") or name == "step_gain":
        return False
    if "+" in mode or mode in ("embed", "cbias", "attn", "fuse"):
        parts = mode.split("+")
        return (
            ("embed" in parts and name.startswith("embed"))
            or ("cbias" in parts and "branches" in name and name.endswith("bias"))
            or ("attn" in parts and name.startswith("attention"))
            or ("fuse" in parts and name.startswith("fuse"))
        )
    if mode == "all" or mode.startswith("topk"):
        return True
    if mode == "bias":
        return name.endswith("bias")
    if mode == "cheb":
        return "branches" in name
    if mode == "chebbias":
        return "branches" in name or name.endswith("bias")
    return False


class Scale(torch.nn.Module):
    def __init__(self, rows, cols=None):
        super().__init__()
        self.s = torch.nn.Parameter(torch.zeros(rows))
        self.c = torch.nn.Parameter(torch.zeros(cols)) if cols else None

    def forward(self, w):
        w = w * (1 + self.s)[:, None]
        return w * (1 + self.c)[None, :] if self.c is not None else w


def add_scales(model, mode):
    from torch.nn.utils import parametrize

    for n, mod in model.named_modules():
        if "lins." in n and isinstance(mod, torch.nn.Linear):
            if mode == "kscale" or (mode == "oscale" and n.endswith("lins.0")) or mode == "ioscale":
                parametrize.register_parametrization(
                    mod, "weight", Scale(32, 32 if mode == "ioscale" else None)
                )


def finetune(t, mode, epochs, lr, batch_patches=4, l1=0.0, step=None):
    model = copy.deepcopy(base.model).train()
    smode = mode.split("+")[0]
    scales = smode in ("oscale", "kscale", "ioscale")
    for n, p in model.named_parameters():
        p.requires_grad_(
            n.startswith("head")
            or (not scales and select(n, mode))
            or (scales and (("branches" in n and n.endswith("bias")) or select(n, mode)))
        )
    if scales:
        add_scales(model, smode)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = {
        n: p.detach().clone()
        for n, p in model.named_parameters()
        if (select(n, mode) or (scales and "branches" in n and n.endswith("bias")))
    }
    opt = torch.optim.Adam(params, lr=lr)
    order = _canonical_order(t.xyz)
    xyz = t.xyz[order]
    ycc = torch.from_numpy(rgb_to_ycbcr(t.decoded)[order].astype(np.float32))
    orig = torch.from_numpy(rgb_to_ycbcr(t.original)[order].astype(np.float32))
    step_t = torch.from_numpy(t.step[order].astype(np.float32))
    pc = dataclasses.replace(base.patches, batch_patches=batch_patches)
    graphs = list(_patch_graphs(xyz, pc, model.config, None))
    rng = np.random.default_rng(0)
    topk = int(mode[4:]) if mode.startswith("topk") else 0
    mask = None
    for ep in range(epochs):
        if topk and ep == epochs // 2:
            with torch.no_grad():
                d = torch.cat(
                    [
                        (p - ref[n]).abs().flatten() / (ref[n].abs().mean() + 1e-6)
                        for n, p in model.named_parameters()
                        if n in ref
                    ]
                )
                thr = d.kthvalue(d.numel() - topk + 1).values
                mask = {}
                for n, p in model.named_parameters():
                    if n in ref:
                        mask[n] = ((p - ref[n]).abs() / (ref[n].abs().mean() + 1e-6)) >= thr
                        p.copy_(torch.where(mask[n], p, ref[n]))
                print("   kept", sum(int(m.sum()) for m in mask.values()), flush=True)
            opt = torch.optim.Adam(params, lr=lr)
        for i in rng.permutation(len(graphs)):
            batch, graph = graphs[i]
            idx = torch.from_numpy(batch.index.reshape(-1))
            w = torch.from_numpy(batch.weight.reshape(-1))
            x, s = ycc[idx], step_t[idx]
            out = x + model(x, s, graph)
            err = ((out - orig[idx]) ** 2 * W).sum(1)
            loss = (err * w).sum() / w.sum()
            if l1 and step:
                pen = sum((p - ref[n]).abs().sum() for n, p in model.named_parameters() if n in ref)
                loss = loss + l1 * pen / step
            opt.zero_grad()
            loss.backward()
            if mask is not None:
                for n, p in model.named_parameters():
                    if n in mask:
                        p.grad.mul_(mask[n])
            opt.step()
    model.eval()
    if scales:
        from torch.nn.utils import parametrize

        print(
            "   scales",
            [
                round(float(m.s.abs().max()), 4)
                for n, m in model.named_modules()
                if isinstance(m, Scale)
            ][:6],
            flush=True,
        )
        for n, mod in list(model.named_modules()):
            if parametrize.is_parametrized(mod):
                parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
        ref = {n: p for n, p in ref.items()} | {
            n: None for n, _ in model.named_parameters() if "branches" in n
        }
    return model, ref


def measure(t, model, names, step):
    new = {n: v for n, v in model.state_dict().items() if n in names}
    if step == 0:
        payload, recon = b"", new
    else:
        payload, recon = encode_update(new, base.reference, step=step)
    sd = dict(base.reference)
    sd.update(recon)
    m2 = copy.deepcopy(base.model)
    m2.load_state_dict(sd)
    pf = PostFilter(m2, base.gating, base.patches)
    pf.reference = base.reference
    ycc = rgb_to_ycbcr(t.decoded)
    H = pf.features(t.xyz, ycc, t.step)
    ch = run_adapt(pf, H, t)
    nz = sum(int(((recon[n] - base.reference[n]) != 0).sum()) for n in recon)
    return ch, 8 * len(payload) + 16, nz


def score(gain, bits, R):
    return gain / 3.0 - math.log1p(bits / R)


if __name__ == "__main__":
    scans = sys.argv[1].split(",")
    qps = [int(q) for q in sys.argv[2].split(",")]
    variants = [v.split(":") for v in sys.argv[3].split(",")]  # mode:epochs:lr:l1
    steps = [float(s) for s in sys.argv[4].split(",")]
    for s in scans:
        for t in load_triples([Path(f"{OSD}/{s}.pcd")], qps, CACHE):
            fn = FEAT / f"{s}_{t.qp}.npy"
            if fn.exists():
                H0 = np.load(fn)
            else:
                H0 = base.features(t.xyz, rgb_to_ycbcr(t.decoded), t.step)
                np.save(fn, H0)
            R = t.attribute_bits
            ch0 = run_adapt(copy.copy(base), H0, t)
            b0 = 8 * len(ch0.payload)
            s0 = score(ch0.gain_db["yuv"], b0, R)
            print(
                f"{s} qp{t.qp} R={R} base {ch0.kind} {b0}b {ch0.gain_db['yuv']:+.3f} score {s0:+.4f}",
                flush=True,
            )
            for mode, ep, lr, l1 in variants:
                t0 = time.time()
                model, ref = finetune(t, mode, int(ep), float(lr), l1=float(l1), step=steps[0])
                tt = time.time() - t0
                for st in steps:
                    t1 = time.time()
                    ch, nb, nz = measure(t, model, set(ref), st)
                    bits = nb + 8 * len(ch.payload)
                    sc = score(ch.gain_db["yuv"], bits, R)
                    print(
                        f"   {mode} ep{ep} lr{lr} l1{l1} step{st:g}: {ch.kind} net {nb}b nz {nz} +head {8 * len(ch.payload)}b gain {ch.gain_db['yuv']:+.3f} score {sc:+.4f} ({sc - s0:+.4f}) train {tt:.0f}s meas {time.time() - t1:.0f}s",
                        flush=True,
                    )
