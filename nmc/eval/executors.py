"""Where points run: in this process, in local worker processes, or on a Ray cluster.

Each executor takes the pending :class:`~nmc.eval.points.PointTask` list and yields
``(task, record_or_error)`` as points finish, in completion order, so the caller can store each
one the moment it is done. A point that fails yields its error message instead of a record;
the campaign carries on with the others. A worker that dies while computing a point (killed,
out of memory) is replaced and the point tried again (:data:`RETRIES` times), then reported as
failed. Closing an executor's generator early (Ctrl-C, an error while storing a point) stops its
workers at once; local workers also exit by themselves when the campaign's process dies
(:mod:`nmc.eval.workers`).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from nmc.errors import DependencyError, InputError, NmcError
from nmc.eval.workers import WorkerPool

if TYPE_CHECKING:  # points import the codecs and the metrics: only where points run
    from nmc.eval.points import PointTask

EXECUTORS = ("local", "ray")
RETRIES = 1
"""Times a point is run again after its worker process died."""
Outcome = tuple["PointTask", dict[str, Any] | str]


def _guarded(task: PointTask) -> dict[str, Any] | str:
    """``run_point`` that reports failures as text (user errors short, bugs with a traceback)."""
    from nmc.eval.points import run_point

    try:
        return run_point(task)
    except NmcError as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - one broken point must not lose the campaign's others
        return traceback.format_exc(limit=8)


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may use, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def run_inline(tasks: Sequence[PointTask]) -> Iterator[Outcome]:
    for task in tasks:
        yield task, _guarded(task)


def run_local(tasks: Sequence[PointTask], jobs: int) -> Iterator[Outcome]:
    """Run on ``jobs`` spawned worker processes (:class:`~nmc.eval.workers.WorkerPool`)."""
    if jobs <= 1 or len(tasks) <= 1:
        yield from run_inline(tasks)
        return
    with WorkerPool(_guarded, min(jobs, len(tasks)), RETRIES) as pool:
        for index, result, why in pool.run(tasks):
            yield tasks[index], result if why is None else f"WorkerError: {why}"


def run_ray(tasks: Sequence[PointTask], address: str | None) -> Iterator[Outcome]:
    """Run on Ray: ``address`` of a running cluster, or ``None`` for a local instance (or the
    instance this process already joined with ``ray.init``).

    Workers import ``nmc`` themselves, so every node needs the same nmc installed. Ray runs a
    point again when its worker dies (:data:`RETRIES` times); a point that still fails is
    reported with Ray's reason.
    """
    try:
        import ray
        from ray.exceptions import RayError
    except ImportError as exc:
        raise DependencyError("--executor ray needs Ray: pip install 'ray>=2.9'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot connect to Ray at {address!r}: {exc}") from exc
    remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_guarded)
    pending = {remote.remote(task): task for task in tasks}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield task, ray.get(ref)
                except RayError as exc:
                    yield task, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def execute(
    tasks: Sequence[PointTask], executor: str = "local", jobs: int = 1, address: str | None = None
) -> Iterator[Outcome]:
    """Run ``tasks`` with the named executor, yielding outcomes as they finish."""
    if executor == "local":
        return run_local(tasks, jobs)
    if executor == "ray":
        return run_ray(tasks, address)
    raise InputError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
