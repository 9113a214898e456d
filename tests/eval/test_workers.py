"""Local worker processes: retried when killed, reported when they keep dying, gone with their
parent (SIGKILL included), and stopped promptly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nmc.eval.workers import WorkerPool, describe_exit

REPO = Path(__file__).resolve().parents[2]


def square(x: int) -> int:
    return x * x


def die_once(marker: str) -> str:
    """Killed by SIGKILL the first time (``marker`` does not exist yet), fine the second."""
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def always_die(_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_results_come_back_for_every_argument():
    with WorkerPool(square, 2) as pool:
        got = {index: result for index, result, why in pool.run(list(range(7))) if why is None}
    assert got == {i: i * i for i in range(7)}


def test_killed_worker_is_replaced_and_its_point_retried(tmp_path):
    markers = [str(tmp_path / f"m{i}") for i in range(3)]
    with WorkerPool(die_once, 2, retries=1) as pool:
        outcomes = sorted(pool.run(markers))
    assert outcomes == [(i, "survived", None) for i in range(3)]
    assert all(Path(m).exists() for m in markers)  # each died once, then ran again


def test_point_whose_worker_always_dies_is_reported_not_fatal():
    with WorkerPool(always_die, 2, retries=1) as pool:
        outcomes = list(pool.run([1, 2]))
    assert sorted(index for index, _, _ in outcomes) == [0, 1]
    for _, result, why in outcomes:
        assert result is None and why == "worker process killed by SIGKILL on each of 2 tries"
    assert describe_exit(3) == "exit code 3"


_SLEEPERS = textwrap.dedent(
    """
    import sys, time
    from nmc.eval.workers import WorkerPool
    with WorkerPool(time.sleep, 2) as pool:
        print("started", flush=True)
        for _ in pool.run([60, 60, 60]):
            pass
    """
)


def _start_sleepers() -> tuple[subprocess.Popen, list[int]]:
    """A parent process whose two workers sleep inside a task; returns it and their pids."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _SLEEPERS],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a test run started in the background inherits an ignored SIGINT: restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert parent.stdout.readline().strip() == "started"
    assert _wait_until(lambda: len(_children(parent.pid)) >= 2, 30), "workers did not start"
    return parent, _children(parent.pid)


def test_workers_exit_when_their_parent_is_killed():
    parent, workers = _start_sleepers()
    time.sleep(0.5)  # let both take a task: they die mid-point, not between points
    parent.kill()
    parent.wait()
    assert _wait_until(lambda: not any(map(_alive, workers)), 5), "orphaned workers still alive"


@pytest.mark.parametrize("to_group", [False, True], ids=["kill -INT parent", "Ctrl-C"])
def test_ctrl_c_stops_parent_and_workers_promptly(to_group):
    parent, workers = _start_sleepers()
    time.sleep(0.5)
    sent = time.monotonic()
    if to_group:  # a terminal's Ctrl-C reaches the whole foreground process group
        os.killpg(parent.pid, signal.SIGINT)
    else:
        parent.send_signal(signal.SIGINT)
    parent.wait(timeout=10)
    assert time.monotonic() - sent < 5
    assert parent.returncode != 0  # KeyboardInterrupt
    assert _wait_until(lambda: not any(map(_alive, workers)), 2)
