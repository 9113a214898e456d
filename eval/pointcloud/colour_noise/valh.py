"""The encoder's heads-only choice (no network step) on validation scans, clean or with the
training's colour noise (``learn28+noise28``): BD-rate of PSNR-YUV vs the codec alone.

    WEIGHTS=w.pt NMC_EXP_DIR=/work/msgat_run8 python valh.py learn5,learn28+noise28
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nmc.eval.bdrate import bd_rate
from nmc.media.ycbcr import rgb_to_ycbcr
from nmc.pointcloud.msgat import adapt
from nmc.pointcloud.msgat.data import load_triples
from nmc.pointcloud.msgat.filter import PostFilter

torch.set_num_threads(1)
RUN = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run8"))
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
YUV = np.array([6, 1, 1]) / 8
postfilter = PostFilter.from_file(os.environ["WEIGHTS"])
bds = []
for name in sys.argv[1].split(","):
    scan, _, sigma = name.partition("+noise")
    triples = load_triples(
        [Path(f"{OSD}/{scan}.pcd")],
        [51, 46, 40, 34, 28, 22],
        RUN / "cache",
        noise=[float(sigma or 0)],
    )
    rows = []
    for t in triples:
        start = time.time()
        choice = adapt.adapt(
            postfilter,
            t.xyz,
            t.original,
            t.decoded,
            t.step,
            t.attribute_bits,
            kinds=adapt.KINDS[:-1],
        )
        mse = ((rgb_to_ycbcr(t.decoded) - rgb_to_ycbcr(t.original)) ** 2).mean(0)
        base = YUV @ (10 * np.log10(255**2 / mse))
        bits = t.attribute_bits + 8 * len(choice.payload)
        rows.append((t.attribute_bits, base, bits, base + choice.gain_db["yuv"]))
        shipped = choice.candidates["shipped"]["gain_db"]["yuv"] if choice.candidates else 0.0
        print(
            name,
            t.qp,
            t.attribute_bits,
            choice.kind,
            8 * len(choice.payload),
            f"shipped {shipped:+.3f} chosen {choice.gain_db['yuv']:+.3f}",
            f"{time.time() - start:.1f}s",
            flush=True,
        )
    rows = np.array(rows)
    bds.append(bd_rate(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]))
    print(name, "BD", round(bds[-1], 2), flush=True)
print("mean BD", round(float(np.mean(bds)), 2))
