"""A synthetic 'other sensor' proxy: validation scans with per-point colour noise, coded at CTC QPs."""

import sys, numpy as np, torch

torch.set_num_threads(1)
import os
from pathlib import Path

WORK = Path(os.environ.get("NMC_EXP_DIR", "/work/msgat_run5"))  # caches of coded scans, features
CACHE, FEAT = WORK / "cache", WORK / "feat"
OSD = os.environ.get("NMC_OSD", "../shared/data/osd")
from nmc.pointcloud import read_cloud, encode_cloud, decode_cloud
from nmc.pointcloud.cloud import PointCloud
from nmc.pointcloud.msgat.data import Triple, match_order, _write_cached
import dataclasses

for s in sys.argv[1].split(","):
    cloud = read_cloud(f"{OSD}/{s}.pcd", bits=10)
    rng = np.random.default_rng(0)
    rgb = (
        np.clip(
            cloud.rgb.astype(np.float64) + rng.normal(0, float(sys.argv[2]), cloud.rgb.shape),
            0,
            255,
        )
        .round()
        .astype(np.uint8)
    )
    cloud = dataclasses.replace(cloud, rgb=rgb)
    for qp in [51, 46, 40, 34, 28, 22]:
        data = encode_cloud(cloud, qp)
        dec = decode_cloud(data)
        perm = match_order(np.asarray(cloud.xyz), np.asarray(dec.xyz))
        t = Triple(
            scan=s + "n",
            qp=qp,
            xyz=np.asarray(dec.xyz, dtype=np.int32),
            original=rgb[perm],
            decoded=np.asarray(dec.rgb, np.uint8),
            step=np.asarray(dec.step, np.float32),
            bits=8 * len(data),
            attribute_bits=int(dec.attribute_bits),
        )
        _write_cached(CACHE, t, 10)
        print(s, qp, t.attribute_bits, flush=True)
