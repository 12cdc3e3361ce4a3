"""Dask-side failures as stage errors: the listener that hears the scheduler report a lost
worker, the record of those losses for the driver's log (`Losses`), and the error that a
failed task becomes (a task Dask gave up on after losing workers, ``KilledWorker``, is a
`WorkerDiedError`); and the options of a private ``LocalCluster``.

A worker dying under a call is not a failed attempt (DESIGN 11.1): the scheduler runs the
task again elsewhere, up to its ``allowed-failures`` setting, and only then fails it.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Hashable
from typing import Any

import dask
import distributed

from flowkit._traceback import with_remote_traceback
from flowkit.errors import WorkerDiedError

__all__ = [
    "REMOTE_TRACEBACK",
    "STARTED_TOPIC",
    "Escaped",
    "LossListener",
    "Losses",
    "Started",
    "listener",
    "local_cluster_options",
    "remote_error",
    "task_error",
    "worker_died",
]

REMOTE_TRACEBACK = "_flowkit_traceback"  # the attribute a worker sets on a stage's error


class Escaped(Exception):  # noqa: N818 - it carries, it is not the error
    """A ``BaseException`` that is not an ``Exception``, raised by a stage on a Dask worker,
    on its way back to the driver (where `task_error` unpacks it)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


STARTED_TOPIC = "flowkit-started"  # a task's start, logged by the worker running it


class Started:
    """A task started on a worker (its Dask key and the worker's address), as heard from
    the scheduler."""

    __slots__ = ("dask_key", "worker")

    def __init__(self, dask_key: str, worker: str) -> None:
        self.dask_key = dask_key
        self.worker = worker


class LossListener:
    """Hands a client's ``remove-worker`` scheduler events and the starts of flowkit's
    tasks to the executors using it (a Client keeps one handler per topic, so executors
    sharing a Client share a listener).

    Each inbox receives ``(worker address, frozenset of the Dask keys it was running)``
    per lost worker, and a `Started` per task started.
    """

    def __init__(self) -> None:
        self.inboxes: dict[int, queue.SimpleQueue[Any]] = {}
        self.lock = threading.Lock()

    def add(self, client: Any, inbox: queue.SimpleQueue[Any]) -> None:
        with self.lock:
            if not self.inboxes:
                client.subscribe_topic("all", self.handle)
                client.subscribe_topic(STARTED_TOPIC, self.handle_started)
            self.inboxes[id(inbox)] = inbox

    def remove(self, client: Any, inbox: queue.SimpleQueue[Any]) -> None:
        with self.lock:
            removed = self.inboxes.pop(id(inbox), None) is not None
            if removed and not self.inboxes and client.status == "running":
                client.unsubscribe_topic("all")
                client.unsubscribe_topic(STARTED_TOPIC)

    def handle(self, event: tuple[float, Any]) -> None:
        msg = event[1]
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
            return
        if msg.get("expected"):  # a graceful retirement: Dask moves its tasks itself
            return
        lost = (str(msg.get("worker")), frozenset(msg.get("processing-tasks", ())))
        with self.lock:
            for inbox in self.inboxes.values():
                inbox.put(lost)

    def handle_started(self, event: tuple[float, Any]) -> None:
        dask_key, worker = event[1]
        started = Started(str(dask_key), str(worker))
        with self.lock:
            for inbox in self.inboxes.values():
                inbox.put(started)


_listeners: weakref.WeakKeyDictionary[Any, LossListener] = weakref.WeakKeyDictionary()
_listeners_lock = threading.Lock()


def listener(client: Any) -> LossListener:
    """The one listener of ``client``."""
    with _listeners_lock:
        return _listeners.setdefault(client, LossListener())


class Losses:
    """The workers lost under an executor's calls, as ``(key, worker, rescheduled)``
    notices for the driver's log; ``rescheduled`` is False for the loss after which the
    scheduler gives up on the task (more than ``allowed`` workers died running it)."""

    def __init__(self) -> None:
        self.allowed = 0
        self._seen: dict[str, int] = {}  # Dask key -> workers lost under it
        self._notices: list[tuple[Hashable, str, bool]] = []

    def configure(self, client: Any) -> None:
        """Read the scheduler's ``allowed-failures`` (ours, a given one's: whatever it is)."""
        try:
            self.allowed = int(client.run_on_scheduler(_allowed_failures))
        except Exception:  # noqa: BLE001 - a scheduler refusing run_on_scheduler: the default
            self.allowed = int(dask.config.get("distributed.scheduler.allowed-failures"))

    def lost(self, keys: list[Hashable], dask_key: str, worker: str) -> None:
        """The task ``dask_key`` (of calls ``keys``: several for a chunk) lost its worker."""
        seen = self._seen[dask_key] = self._seen.get(dask_key, 0) + 1
        self._notices.extend((key, worker, seen <= self.allowed) for key in keys)

    def gave_up(self, keys: list[Hashable], future: Any) -> None:
        """``future`` failed: if Dask gave up on it after lost workers (``KilledWorker``)
        and the last loss was not reported yet (the scheduler may tell the task's end
        before the loss), report it now."""
        error = future.exception() if future.status == "error" else None
        if not isinstance(error, distributed.KilledWorker):
            return
        if self._seen.get(future.key, 0) <= self.allowed:
            self._seen[future.key] = self.allowed + 1
            worker = str(getattr(error.last_worker, "address", "?"))
            self._notices.extend((key, worker, False) for key in keys)

    def drain(self) -> list[tuple[Hashable, str, bool]]:
        notices, self._notices = self._notices, []
        return notices

    def clear(self) -> None:
        self._seen.clear()
        self._notices.clear()


def _allowed_failures(dask_scheduler: Any) -> int:
    return int(dask_scheduler.allowed_failures)


def local_cluster_options(cluster_options: dict[str, Any]) -> dict[str, Any]:
    """The ``LocalCluster`` options of a private cluster, ``cluster_options`` on top."""
    options: dict[str, Any] = {
        "n_workers": max(1, min(4, os.cpu_count() or 1)),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        **cluster_options,
    }
    options["scheduler_kwargs"] = {
        # Worker loss is Dask's to handle (DESIGN 11.1): ``allowed_failures`` stays at
        # Dask's setting, so a lost worker's task runs again elsewhere.
        # Even without a dashboard the scheduler serves /health and /metrics over HTTP,
        # by default on port 8787 of every interface: loopback and a free port instead.
        "dashboard_address": "127.0.0.1:0",
        **options.get("scheduler_kwargs", {}),
    }
    return options


def worker_died(worker: str, stage: str) -> WorkerDiedError:
    """The error of an attempt of ``stage`` whose Dask worker died under it."""
    return WorkerDiedError(f"Dask worker {worker} died while running {stage!r}")


def remote_error(error: BaseException) -> BaseException:
    """A stage's error as it came back from a worker: unpacked from its `Escaped`, with
    the worker's traceback as its cause."""
    if isinstance(error, Escaped):
        error = error.error  # a SystemExit or KeyboardInterrupt the worker carried back
    text = getattr(error, REMOTE_TRACEBACK, None)
    if isinstance(text, str):
        with_remote_traceback(error, text)
    return error


def task_error(stage: str, future: Any) -> BaseException:
    """The error of an attempt of ``stage`` whose Dask task ended but did not finish."""
    error = future.exception() if future.status == "error" else None
    if isinstance(error, distributed.KilledWorker):
        # The scheduler gave up after workers died running it: a lost worker too.
        lost = worker_died(getattr(error.last_worker, "address", "?"), stage)
        allowed = getattr(error, "allowed_failures", None)
        if isinstance(allowed, int):
            gave_up = f"Dask gave up after {allowed + 1} workers died running it"
            lost.args = (f"{lost}; {gave_up} (distributed.scheduler.allowed-failures)",)
        lost.__cause__ = error
        return lost
    if isinstance(error, BaseException):
        return remote_error(error)
    return RuntimeError(
        f"stage {stage!r}: its Dask task ended as {future.status!r} (cancelled outside "
        "flowkit, or the scheduler lost it)"
    )
