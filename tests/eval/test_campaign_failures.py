"""``nmc eval`` when things go wrong: result files that cannot be written, a campaign killed
or interrupted while its local workers compute points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmc.cli import main
from nmc.eval.campaign import RD_FILE
from nmc.eval.results import read_points
from tests.eval.test_campaign import _recipe
from tests.eval.test_workers import _alive, _children, _wait_until
from tests.test_cli import _one_error_line, _run_nmc

REPO = Path(__file__).resolve().parents[2]


def _eval_args(recipe: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "video", "--recipe", str(recipe), "-o", str(out), "-q", *extra]


@pytest.fixture
def recipe(carphone: Path, tmp_path: Path) -> Path:
    """Eight quick x264 / x265 points on two carphone frames."""
    path = tmp_path / "quick.toml"
    path.write_text(_recipe(carphone, frames=2))
    return path


def test_results_folder_that_is_a_file_is_one_line_exit_2(recipe, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("not a folder")
    assert main(_eval_args(recipe, taken)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]


def test_unwritable_results_folder_is_one_line_exit_2(recipe, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    out.chmod(0o555)
    try:
        ran = _run_nmc(_eval_args(recipe, out), drop_root=True)
    finally:
        out.chmod(0o755)
    _one_error_line(ran, 2, "not writable")
    assert list(out.iterdir()) == []


def test_disk_full_mid_campaign_keeps_the_stored_points_and_no_part_file(recipe, tmp_path):
    out = tmp_path / "results"
    ran = _run_nmc(_eval_args(recipe, out, "--jobs", "1"), file_size_limit=1500)  # 3 points
    _one_error_line(ran, 2, f"cannot write {out / RD_FILE}", "file-size limit")
    kept = read_points(out / RD_FILE)  # complete lines only
    assert 1 <= len(kept) < 8
    assert [p.name for p in out.iterdir()] == [RD_FILE]

    # With room again, the campaign resumes from the points it kept.
    assert main([*_eval_args(recipe, out), "--json", "--jobs", "1"]) == 0


_SLOW = dict(frames=10, x265_preset="veryslow", x265_rates="[20, 24, 28, 32, 36, 40]")


def _start_campaign(carphone: Path, tmp_path: Path) -> tuple[subprocess.Popen, list[int], Path]:
    """``nmc eval`` with two local workers busy on slow points; returns it, the pids of its
    child processes (the workers and multiprocessing's resource tracker) and the results
    folder."""
    recipe = tmp_path / "slow.toml"
    recipe.write_text(_recipe(carphone, **_SLOW))
    out = tmp_path / "results"
    code = "import sys\nfrom nmc.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    parent = subprocess.Popen(
        [sys.executable, "-c", code, *_eval_args(recipe, out, "--jobs", "2")],
        cwd=REPO,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # a test run started in the background inherits an ignored SIGINT: restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    rd = out / RD_FILE
    started = _wait_until(lambda: rd.exists() and len(read_points(rd)) >= 5, 120)
    assert started, "the campaign did not get to its slow points"
    workers = _children(parent.pid)
    assert len(workers) >= 2 and parent.poll() is None
    return parent, workers, out


def test_killed_campaign_leaves_no_orphaned_workers(carphone, tmp_path):
    parent, workers, out = _start_campaign(carphone, tmp_path)
    parent.kill()
    parent.wait()
    assert _wait_until(lambda: not any(map(_alive, workers)), 5), "orphaned workers still alive"
    assert 5 <= len(read_points(out / RD_FILE)) < 10


def test_ctrl_c_stops_a_campaign_promptly(carphone, tmp_path):
    parent, workers, out = _start_campaign(carphone, tmp_path)
    sent = time.monotonic()
    os.killpg(parent.pid, signal.SIGINT)  # as a terminal's Ctrl-C
    _, err = parent.communicate(timeout=20)
    assert time.monotonic() - sent < 5
    assert parent.returncode == 130 and err.decode().strip() == "nmc: interrupted"
    # the workers are joined before the parent exits; the resource tracker follows it
    assert _wait_until(lambda: not any(map(_alive, workers)), 2)
    stored = read_points(out / RD_FILE)
    assert 5 <= len(stored) < 10 and json.dumps(stored)
