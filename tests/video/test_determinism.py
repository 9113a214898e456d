"""The same file decodes to the same frames in processes with different torch thread counts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from nmc.video import decode, encode
from nmc.video.render import torch_threads
from tests.video.conftest import FAST

REPO = Path(__file__).resolve().parents[2]
_DECODE_AND_HASH = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from nmc.video import decode
for path in sys.argv[2:]:
    video = decode(path)
    print(hashlib.sha256(video.y.tobytes() + video.u.tobytes() + video.v.tobytes()).hexdigest())
"""


def _digest(path: Path) -> str:
    video = decode(path)
    return hashlib.sha256(video.y.tobytes() + video.u.tobytes() + video.v.tobytes()).hexdigest()


def test_decode_is_identical_across_thread_counts(tmp_path, clip):
    paths = []
    for family in ("conv", "mlp"):
        data, _ = encode(clip, family=family, gop=2, **FAST)
        paths.append(tmp_path / f"{family}.nmc")
        paths[-1].write_bytes(data)
    with torch_threads(1):
        here = [_digest(p) for p in paths]
    # One subprocess (a fresh interpreter imports torch slowly on a loaded machine) at 3 threads.
    env = {**os.environ, "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_AND_HASH, "3", *map(str, paths)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    assert done.stdout.split() == here
