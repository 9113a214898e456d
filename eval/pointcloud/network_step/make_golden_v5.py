"""Golden version-5 stream: the encoder's own choice if it steps the network, else a crafted step."""

import dataclasses, sys
from pathlib import Path
import numpy as np
import torch

torch.set_num_threads(1)
from nmc.bitstream import FieldWriter, pack, unpack
from nmc.pointcloud import codec as plugin
from nmc.pointcloud.samples import textured_surface
from nmc.pointcloud.cloud_codec import split_attributes
from nmc.pointcloud.msgat import load_default
from nmc.pointcloud.msgat.stepping import NetworkStep, step_groups
from nmc.pointcloud.msgat.update import (
    FilterUpdate,
    ChannelUpdate,
    read_filter_update,
    write_filter_update,
)

out = Path(sys.argv[1])
cloud = textured_surface(samples=110, bits=7)
data, report = plugin.encode(cloud, qp=28)
print(
    report["filter_update"],
    report["filter_update_bits"],
    len(data),
    report["attribute_bits"],
    report.get("filter_candidates", {}).get("network"),
)
if report["filter_update"] != "network":
    f = load_default()
    container = unpack(data)
    update, colours = split_attributes(container)
    inner = read_filter_update(update, f.reference)
    groups = step_groups(f.reference)
    rng = np.random.default_rng(5)
    levels = tuple(
        rng.integers(-2, 3, g.size) if g.mode != "delta" and i % 7 == 0 else None
        for i, g in enumerate(groups)
    )
    base = (
        FilterUpdate(channels=inner.channels)
        if inner.channels
        else FilterUpdate(strength=inner.strength)
    )
    payload, _ = write_filter_update(
        dataclasses.replace(base, network=NetworkStep(4, levels)), f.reference
    )
    attr = FieldWriter().blob(payload).raw(colours).getvalue()
    chunks = [
        dataclasses.replace(c, payload=attr) if c.kind == "ATTR" else c for c in container.chunks
    ]
    data = pack(container.codec_id, container.header, chunks)
    print("crafted", 8 * len(payload))
(out / "version5_qp28.nmc").write_bytes(data)
plain = plugin.decode(unpack(data), postfilter="none")[0]
filtered, rep = plugin.decode(unpack(data))
print(rep["filter_update"], np.mean(filtered.rgb != plain.rgb))
np.savez_compressed(
    out / "version5_qp28_decoded.npz", xyz=plain.xyz, plain=plain.rgb, filtered=filtered.rgb
)
