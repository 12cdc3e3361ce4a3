"""Daemon threads, started once and reused by every executor that runs calls in threads.

Starting a thread costs about 150 µs of CPU (the ``threads`` executor's whole fixed cost
per run, and an ``async`` run's per sync stage); handing a job to a parked thread costs a
wake-up. A thread that finished its job parks for up to ``IDLE_S`` for the next one.

Daemon threads, not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a
job abandoned at an interrupt or a timeout would keep the process alive until it returned.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections import deque
from collections.abc import Callable

IDLE_S = 2.0  # a parked thread with no job for this long ends

Job = Callable[[], object]


class _Parking:
    """The jobs handed over and the threads parked waiting for them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.jobs: deque[tuple[Job, str]] = deque()
        self.parked = 0

    def hand_over(self, job: Job, name: str) -> bool:
        """Give ``job`` to a parked thread; False when none is free."""
        with self.lock:
            if self.parked <= len(self.jobs):
                return False
            self.jobs.append((job, name))
            self.arrived.notify()
            return True

    def next_job(self) -> tuple[Job, str] | None:
        """Park this thread until a job arrives; None after ``IDLE_S`` without one."""
        with self.lock:
            self.parked += 1
            try:
                while not self.jobs:
                    if not self.arrived.wait(IDLE_S) and not self.jobs:
                        return None
                return self.jobs.popleft()
            finally:
                self.parked -= 1


_parking = _Parking()


def start(job: Job, name: str) -> None:
    """Run ``job()`` in a daemon thread named ``name``: a parked one, else a new one. A job
    must not raise (the thread would end with the usual unhandled-exception report)."""
    if not _parking.hand_over(job, name):
        threading.Thread(target=_serve, args=(job,), name=name, daemon=True).start()


def _serve(job: Job) -> None:
    thread, parking = threading.current_thread(), _parking
    while True:
        contextvars.Context().run(job)  # an empty context, as in a new thread
        if parking is not _parking:  # forked from a job: the parent's parking is not ours
            return
        handed = parking.next_job()
        if handed is None:  # idle too long
            return
        job, thread.name = handed


def _forget_parked() -> None:
    """In a forked child no parked thread exists: start afresh."""
    global _parking  # noqa: PLW0603 - the module's one piece of state, reset at fork
    _parking = _Parking()


os.register_at_fork(after_in_child=_forget_parked)
