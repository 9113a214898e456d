"""Golden version-6 stream: a small textured surface at QP 28 with the encoder's own choice."""

import sys
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from nmc.bitstream import unpack
from nmc.pointcloud import codec as plugin
from nmc.pointcloud.samples import textured_surface

out = Path(sys.argv[1])
cloud = textured_surface(samples=110, bits=7)
data, report = plugin.encode(cloud, qp=28)
print(report["filter_update"], report["filter_update_bits"], len(data), report["attribute_bits"])
(out / "version6_qp28.nmc").write_bytes(data)
plain = plugin.decode(unpack(data), postfilter="none")[0]
filtered, rep = plugin.decode(unpack(data))
print(rep["filter_update"], np.mean(filtered.rgb != plain.rgb))
np.savez_compressed(
    out / "version6_qp28_decoded.npz", xyz=plain.xyz, plain=plain.rgb, filtered=filtered.rgb
)
