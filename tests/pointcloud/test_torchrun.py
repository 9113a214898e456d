"""``nmc train msgat`` data-parallel under ``torchrun --nproc_per_node 2`` (gloo, CPU), on
three small crops of real scans, then resumed from its checkpoint under torchrun again."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nmc.pointcloud import read_cloud, write_ply

REPO = Path(__file__).resolve().parents[2]
_SMALL = [
    "--qps", "40", "--batch", "2", "--patch-size", "128", "--val-patches", "1",
    "--channels", "8", "--cheb-k", "2", "--cheb-layers", "1", "--knn", "4",
    "--threads", "1", "--val", "crop2", "--held-out", "", "-q",
]  # fmt: skip


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """Three 1,500-voxel crops (a Morton-order run: one compact piece) of real learn scans, or
    of the embedded textured surface where ``../shared/data`` is absent."""
    from nmc.pointcloud.samples import textured_surface
    from tests.conftest import shared_data_dir

    osd = shared_data_dir() / "osd"
    folder = tmp_path_factory.mktemp("crops")
    for i in range(3):
        if osd.is_dir():
            cloud = read_cloud(osd / f"learn{i + 1}.pcd", bits=10)
        else:
            cloud = textured_surface(samples=60, bits=7, seed=i)
        piece = slice(len(cloud.xyz) // 2, len(cloud.xyz) // 2 + 1500)
        write_ply(folder / f"crop{i}.ply", cloud.xyz[piece], cloud.rgb[piece])
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(crops: Path, out: Path, logs: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
        "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "--log-dir", str(logs), "--redirects", "3",
        "-m", "nmc.cli", "train", "msgat", "--data", str(crops), "-o", str(out),
        "--cache", str(crops / "cache"), *_SMALL, *extra,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def _rank_logs(logs: Path) -> dict[int, str]:
    """What each rank wrote to stderr, from torchrun's per-rank log folders."""
    return {
        int(path.parent.name): path.read_text() for path in logs.glob("*/attempt_0/*/stderr.log")
    }


def test_two_ranks_train_rank_0_writes_and_the_run_resumes(crops, tmp_path):
    model = tmp_path / "msgat.pt"
    first = _torchrun(crops, model, tmp_path / "logs1", "--steps", "3", "--val-every", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    ranks = _rank_logs(tmp_path / "logs1")
    assert sorted(ranks) == [0, 1], "torchrun did not run two ranks"
    assert "wrote" in ranks[0] and "wrote" not in ranks[1]  # rank 0 alone writes
    record = json.loads(model.with_suffix(".json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 3
    ckpt = torch.load(model.with_suffix(".pt.ckpt"), weights_only=True)
    assert ckpt["step"] == 3
    first_weights = {k: v.clone() for k, v in ckpt["model"].items()}

    resumed = _torchrun(
        crops, model, tmp_path / "logs2", "--steps", "5", "--val-every", "5", "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads(model.with_suffix(".json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 5
    assert [h["step"] for h in record["history"]] == [3, 5]  # continued, not restarted
    after = torch.load(model.with_suffix(".pt.ckpt"), weights_only=True)["model"]
    assert any(not torch.equal(after[k], first_weights[k]) for k in first_weights)
    assert all(np.isfinite(v.numpy()).all() for v in after.values())
