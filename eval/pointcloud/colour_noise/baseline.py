"""Validation-patch gains of a weights file on the clean and noisy validation scans."""

import sys
from pathlib import Path

import torch

from nmc.pointcloud.msgat.checkpoint import load_weights
from nmc.pointcloud.msgat.config import VALIDATION_SCANS
from nmc.pointcloud.msgat.data import load_triples
from nmc.pointcloud.msgat.train import _validation_samples, noise_levels, validate

torch.set_num_threads(1)
OSD = Path("/work/shared/data/osd")
CACHE = Path("/work/msgat_run8/cache")
qps = [51, 46, 40, 34, 28, 22]
paths = [OSD / f"{s}.pcd" for s in VALIDATION_SCANS]
model = load_weights(sys.argv[1])[0]
for noise in (None, noise_levels(4, 40)):
    t = load_triples(paths, qps, CACHE, 10, None, noise)
    g = validate(model, _validation_samples(t, 1024, 4), torch.device("cpu"))
    print("noisy" if noise else "clean", " ".join(f"QP{q}={v:+.3f}" for q, v in g.items()))
