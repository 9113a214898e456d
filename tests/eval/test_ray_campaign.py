"""Campaigns on a real local Ray instance (2 CPUs): same points as the local executor, through
``nmc eval --executor ray --address``; killed workers retried, raising points reported, reruns
reuse every stored point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from nmc.eval.campaign import RD_FILE, run_campaign
from nmc.eval.recipe import parse_recipe
from nmc.eval.results import read_points
from tests.eval.test_campaign import _recipe

REPO = Path(__file__).resolve().parents[2]
_TIMINGS = ("encode_s", "decode_s")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray instance with 2 CPUs for this module; yields its address."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 << 20,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _measured(records: list[dict]) -> dict[str, dict]:
    """Records by key, without the wall-clock fields."""
    return {r["key"]: {k: v for k, v in r.items() if k not in _TIMINGS} for r in records}


def test_ray_campaign_through_the_cli_equals_the_local_one(carphone, tmp_path, ray_address):
    recipe = tmp_path / "quick.toml"
    recipe.write_text(_recipe(carphone, frames=2))
    local = run_campaign(parse_recipe(recipe.read_text()), tmp_path / "local", progress=False)
    assert local.computed == 8 and not local.failures

    args = ["eval", "video", "--recipe", str(recipe), "-o", str(tmp_path / "ray"), "--json"]
    args += ["--executor", "ray", "--address", ray_address]
    code = f"import sys\nfrom nmc.cli import main\nsys.exit(main({args!r}))\n"
    for computed, cached in ((8, 0), (0, 8)):  # the rerun computes nothing
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads(out.stdout)
        assert (summary["computed"], summary["cached"]) == (computed, cached)
        assert summary["failures"] == []
    stored = read_points(tmp_path / "ray" / RD_FILE)
    assert _measured(stored) == _measured(local.records)


def _task_workers() -> list[int]:
    """Pids of Ray workers running a campaign point (Ray titles them ``ray::_guarded``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::_guarded"):
            found.append(int(entry.name))
    return found


def test_killed_worker_is_retried_and_a_raising_point_reported(carphone, tmp_path, ray_address):
    recipe = parse_recipe(
        _recipe(carphone, frames=6, x265_preset="slower", x265_rates="[20, 26, 32, 99]")
    )
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in _task_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    try:
        first = run_campaign(recipe, tmp_path, executor="ray", progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen computing a point"
    assert first.computed == 7, first.failures
    (failure,) = first.failures
    assert "x265-fast@99" in failure and "CRF 99 outside" in failure

    again = run_campaign(recipe, tmp_path, executor="ray", progress=False)
    assert (again.computed, again.cached, len(again.failures)) == (0, 7, 1)
    assert _measured(again.records) == _measured(first.records)
