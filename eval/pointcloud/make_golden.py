"""Golden stream of the current point-cloud version: a small textured surface at QP 28 with
the encoder's own filter choice, and what the decoder makes of it (with and without filter).

    python eval/pointcloud/make_golden.py tests/pointcloud/data

writes ``version{N}_qp28.nmc`` and ``version{N}_qp28_decoded.npz`` (N: the header's version;
it made the golden streams of versions 6 to 8; version 5's crafted one:
``network_step/make_golden_v5.py``).
"""

import sys
from pathlib import Path

import numpy as np
import torch

from nmc.bitstream import unpack
from nmc.pointcloud import codec as plugin
from nmc.pointcloud.header import VERSION
from nmc.pointcloud.samples import textured_surface

torch.set_num_threads(1)
out = Path(sys.argv[1])
cloud = textured_surface(samples=110, bits=7)
data, report = plugin.encode(cloud, qp=28)
print(report["filter_update"], report["filter_update_bits"], len(data), report["attribute_bits"])
(out / f"version{VERSION}_qp28.nmc").write_bytes(data)
plain = plugin.decode(unpack(data), postfilter="none")[0]
filtered, decoded = plugin.decode(unpack(data))
print(decoded["filter_update"], np.mean(filtered.rgb != plain.rgb))
np.savez_compressed(
    out / f"version{VERSION}_qp28_decoded.npz",
    xyz=plain.xyz,
    plain=plain.rgb,
    filtered=filtered.rgb,
)
