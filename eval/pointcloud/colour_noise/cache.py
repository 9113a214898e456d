"""Code scans into the training cache: python cache.py PART NPARTS [noise]"""

import sys
from pathlib import Path

from nmc.pointcloud.msgat.config import HELD_OUT_SCANS
from nmc.pointcloud.msgat.data import load_triples

part, nparts = int(sys.argv[1]), int(sys.argv[2])
data = Path("/work/shared/data/osd")
paths = sorted(
    (p for p in data.glob("learn*.pcd") if p.stem not in HELD_OUT_SCANS),
    key=lambda p: int(p.stem[5:]),
)
mine = paths[part::nparts]
load_triples(
    mine,
    [51, 46, 40, 34, 28, 22],
    Path("/work/msgat_run8/cache"),
    10,
    lambda s: print(s, flush=True),
)
