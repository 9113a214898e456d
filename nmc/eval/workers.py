"""Local worker processes that never outlive the campaign that started them.

Each worker is a spawned process (torch and forked threads do not mix) with two pipes: tasks
come in on one, results go out on the other. A thread in the worker blocks on the task pipe;
when the parent dies, however it dies (SIGKILL included), the pipe's write end closes and the
worker exits at once, even in the middle of a point. Workers ignore SIGINT: Ctrl-C is the
parent's to handle, and the parent terminates its workers whenever it stops early.

A worker that dies while computing a point (killed, out of memory) is replaced and the point
is run again, up to ``retries`` times; after that the point is reported as failed, and the
campaign goes on with the others.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

# Seconds a terminated worker gets to exit before it is killed.
_GRACE_S = 2.0


def _serve(tasks: Connection, results: Connection, function: Callable[[Any], Any]) -> None:
    """Body of a worker: run ``function`` on each ``(index, argument)`` received, send back
    ``(index, result)``; exit as soon as the task pipe closes (the parent is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def listen() -> None:
        while True:
            try:
                inbox.put(tasks.recv())
            except (EOFError, OSError):
                os._exit(0)  # no parent: stop now, mid-point included

    threading.Thread(target=listen, name="nmc-parent-watch", daemon=True).start()
    while True:
        index, argument = inbox.get()
        results.send((index, function(argument)))


def describe_exit(code: int | None) -> str:
    """Words for a process exit code (negative: killed by that signal)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    results: Connection
    job: int | None = None


class WorkerPool:
    """``jobs`` spawned worker processes running one picklable ``function``.

    Use as a context manager; leaving the block (normally, by an exception or Ctrl-C, or by
    closing the :meth:`run` generator) terminates every worker.
    """

    def __init__(self, function: Callable[[Any], Any], jobs: int, retries: int = 1) -> None:
        self._function = function
        self._jobs = max(1, jobs)
        self._retries = retries
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> _Worker:
        task_read, task_write = self._context.Pipe(duplex=False)
        result_read, result_write = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_serve,
            args=(task_read, result_write, self._function),
            name="nmc-eval-worker",
            daemon=True,
        )
        process.start()
        # Only the worker may hold these ends, or it would never see the task pipe close.
        task_read.close()
        result_write.close()
        worker = _Worker(process, task_write, result_read)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.tasks.close()
        worker.results.close()
        worker.process.join(_GRACE_S)

    def run(self, arguments: Sequence[Any]) -> Iterator[tuple[int, Any, str | None]]:
        """Run ``function`` on every argument; yield ``(index, result, None)`` as each finishes,
        or ``(index, None, why)`` for a point whose worker died on every try."""
        pending = deque(range(len(arguments)))
        tries = [0] * len(arguments)
        while pending or any(w.job is not None for w in self._workers):
            idle = [w for w in self._workers if w.job is None]
            spawn = min(self._jobs - len(self._workers), len(pending) - len(idle))
            idle += [self._start() for _ in range(max(0, spawn))]
            for worker in idle:
                if not pending:
                    break
                job = pending.popleft()
                try:
                    worker.tasks.send((job, arguments[job]))
                except OSError:  # it died while idle: replaced on the next round
                    pending.appendleft(job)
                    self._retire(worker)
                    continue
                worker.job = job
                tries[job] += 1
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                continue
            ready = wait([w.results for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.results in ready or worker.results.poll():
                    try:
                        index, result = worker.results.recv()
                    except (EOFError, OSError):
                        pass  # died after all; handled below through its sentinel
                    else:
                        worker.job = None
                        yield index, result, None
                        continue
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    worker.process.join()
                    job, why = worker.job, describe_exit(worker.process.exitcode)
                    self._retire(worker)
                    if tries[job] <= self._retries:
                        pending.appendleft(job)
                    else:
                        yield job, None, f"worker process {why} on each of {tries[job]} tries"

    def close(self) -> None:
        """Stop every worker now (terminate, then kill after a short grace)."""
        for worker in self._workers:
            worker.tasks.close()
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.results.close()
        self._workers.clear()
