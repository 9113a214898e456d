"""Code the noisy copies train.py will ask for: python cache_noisy.py PART NPARTS MAX"""

import sys
from pathlib import Path

from nmc.pointcloud.msgat.config import HELD_OUT_SCANS, VALIDATION_SCANS
from nmc.pointcloud.msgat.data import load_triples
from nmc.pointcloud.msgat.train import noise_levels, split_scans

part, nparts, top = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
train, val = split_scans(Path("/work/shared/data/osd"), HELD_OUT_SCANS, VALIDATION_SCANS, 0)
noisy = train[::2]
jobs = list(zip(noisy, noise_levels(len(noisy), top))) + list(zip(val, noise_levels(len(val), top)))
mine = jobs[part::nparts]
load_triples(
    [p for p, _ in mine],
    [51, 46, 40, 34, 28, 22],
    Path("/work/msgat_run8/cache"),
    10,
    lambda s: print(s, flush=True),
    [s for _, s in mine],
)
