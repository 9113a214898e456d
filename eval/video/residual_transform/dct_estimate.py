"""Would a pixel-domain transform pay for P-frame residuals? A feasibility estimate (session 10).

    OMP_NUM_THREADS=1 python eval/video/residual_transform/dct_estimate.py carphone 7 6 [conv [STEPS]]

Encodes the clip's first FRAMES frames with default options and, for every P frame, compares
on the same reference and vectors (so on the same prediction ``warp(previous, vectors)``):

* today's residual: the P frame's residual latents, their coded bits and the PSNR they add;
* a plain transform residual of the prediction's error: 8x8 DCT on luma, 4x4 on chroma
  (orthonormal), uniform quantization with HEVC's inter dead zone (rounding offset 1/6) at
  steps 3 ... 22 (8-bit units), bits *estimated* (not coded): per block a coded-block flag and,
  in coded blocks, per coefficient position its zero flag and the magnitudes by their empirical
  entropy on the frame, signs 1 bit, 4 bits per position for adaptation. No RDO, no skip.

The estimate flatters the transform's entropy (empirical, per frame) and handicaps its
quantizer (no RDOQ); see docs/video.md § P frames for what it showed.
"""
import sys, math
sys.path.insert(0, '/work/main/tools'); sys.path.insert(0, '/work/main')
import numpy as np, torch, torch.nn.functional as F
import nmc.video.encoder as enc
from nmc.video.config import config_for
from nmc.video.motion import warp
import bench_video as bv, _bench_common as bench
clip, quality, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = sys.argv[4] if len(sys.argv) > 4 else 'conv'
video = bench.load_clip(bv.CLIPS[clip], frames)
captured = []
orig = enc.code_predicted
def spy(model, reference, fitted, target, weights, lam, step):
    coded, result = orig(model, reference, fitted, target, weights, lam, step)
    captured.append((reference, target.cpu(), weights.cpu(), coded, result, lam))
    return coded, result
enc.code_predicted = spy
torch.set_num_threads(1)
data, report = enc.encode_video(video, config_for(family, quality), progress=False)

def dct_matrix(n):
    k = np.arange(n)[:, None]; i = np.arange(n)[None]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n); m[0] /= math.sqrt(2)
    return torch.tensor(m, dtype=torch.float64)

def blocks(plane, n):
    h, w = plane.shape; H, W = -(-h // n) * n, -(-w // n) * n
    p = F.pad(plane[None, None], (0, W - w, 0, H - h))[0, 0]
    return p.reshape(H // n, n, W // n, n).permute(0, 2, 1, 3), (h, w)

def unblocks(b, shape):
    R, C, n, _ = b.shape
    return b.permute(0, 2, 1, 3).reshape(R * n, C * n)[:shape[0], :shape[1]]

def entropy_bits(levels_by_class):
    """levels: int [N_blocks, P] per class -> estimated adaptive bits (zero flags per position,
    sign, Exp-Golomb-like magnitude by empirical entropy per position group) + CBF."""
    total = 0.0
    lv = levels_by_class
    nz_block = (lv != 0).any(1)
    p = nz_block.double().mean().clamp(1e-6, 1 - 1e-6)
    total += float(len(nz_block) * -(p * p.log2() + (1 - p) * (1 - p).log2()))
    coded = lv[nz_block]
    if len(coded) == 0:
        return total
    for j in range(coded.shape[1]):
        col = coded[:, j]
        q = (col != 0).double().mean().clamp(1e-6, 1 - 1e-6)
        total += float(len(col) * -(q * q.log2() + (1 - q) * (1 - q).log2()))
        mags = col[col != 0].abs()
        if len(mags):
            total += len(mags)  # sign
            vals, counts = torch.unique(mags.clamp(max=16), return_counts=True)
            pr = counts.double() / counts.sum()
            total += float(-(counts * pr.log2()).sum()) + 2 * (mags > 16).sum().item() * 4
        total += 4  # adaptation cost per position
    return total

def planes_of(grid):
    luma = F.pixel_shuffle(grid[None, :4].double(), 2)[0, 0]
    return luma, grid[4].double(), grid[5].double()

W = (6 / 8, 1 / 8, 1 / 8)
def wmse(err_planes, shapes):
    return sum(w * float((e ** 2).mean()) for w, e in zip(W, err_planes))

STEPS = tuple(int(v) for v in (sys.argv[5] if len(sys.argv) > 5 else '3,4,6,8,11,16,22').split(','))
print('# transform residual, bits:dB gain at quantizer steps', *STEPS)
for idx, (ref, target, weights, coded, result, lam) in enumerate(captured, 1):
    pred = warp(ref.frame, result.vectors.float(), ref.block)
    tgt = planes_of(target); prd = planes_of(pred); dec = planes_of(result.frame)
    h, w = video.height, video.width
    tgt = (tgt[0][:h, :w], *tgt[1:]); prd = (prd[0][:h, :w], *prd[1:]); dec = (dec[0][:h, :w], *dec[1:])
    err_pred = [(t - p) * 255 for t, p in zip(tgt, prd)]
    err_dec = [(t - d) * 255 for t, d in zip(tgt, dec)]
    d_pred, d_dec = wmse(err_pred, None), wmse(err_dec, None)
    db = lambda d: 10 * math.log10(255 ** 2 / d)
    line = f"P{idx} latent: {coded.bits.get('residual', 0):7.0f} b {db(d_dec) - db(d_pred):+.3f} dB (pred {db(d_pred):.2f}, motion {coded.bits.get('motion',0):.0f})"
    best = []
    for delta in STEPS:
        bits = 0.0; errs = []
        for k, e in enumerate(err_pred):
            n = 8 if k == 0 else 4
            m = dct_matrix(n)
            b, shape = blocks(e, n)
            c = m @ b @ m.T
            lev = torch.sign(c) * torch.floor(c.abs() / delta + 1 / 6)
            rec = m.T @ (lev * delta) @ m
            errs.append(e - unblocks(rec, shape))
            bits += entropy_bits(lev.reshape(-1, n * n).to(torch.int64))
        d = wmse(errs, None)
        best.append((bits, db(d) - db(d_pred)))
    line += " | dct " + " ".join(f"{b:.0f}:{g:+.2f}" for b, g in best)
    print(line, flush=True)
print(report['bits'], report['psnr_yuv'], report['bits_by_part'])
