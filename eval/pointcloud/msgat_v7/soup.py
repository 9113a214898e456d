"""Average the weights of MS-GAT runs that share an initialisation, then calibrate the
gating on the validation scans as ``nmc train msgat`` does:

    python soup.py OUT.pt A.pt B.pt [...]
"""

import os
import sys
from pathlib import Path

import torch

from nmc.pointcloud.msgat.calibrate import calibrate
from nmc.pointcloud.msgat.checkpoint import load_weights, save_weights
from nmc.pointcloud.msgat.config import VALIDATION_SCANS
from nmc.pointcloud.msgat.data import load_triples
from nmc.pointcloud.msgat.filter import PostFilter
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.qp import CTC_QPS

torch.set_num_threads(1)
RUN = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run8"))
out, *sources = sys.argv[1:]
loaded = [load_weights(p) for p in sources]
model, _, patches, record = loaded[0]
states = [m.state_dict() for m, *_ in loaded]
model.load_state_dict({k: sum(s[k] for s in states) / len(states) for k in states[0]})
model.eval()
val = load_triples(
    [Path(f"../shared/data/osd/{s}.pcd") for s in VALIDATION_SCANS],
    CTC_QPS,
    RUN / "cache",
)
gating, report = calibrate(PostFilter(model, StepGating.full(), patches), val)
record = {**record, "soup_of": sources, "validation": report}
save_weights(out, model, gating, patches, record)
for qp, v in report.items():
    print(qp, {c: round(g, 3) for c, g in v["gain_db"].items()})
