"""What the contract tests share: the executors they run on (the fake one included), the
files stages use to count attempts and to wait for each other across processes, and event
helpers."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from flowkit import Stage
from flowkit.executors import Completion, call_stage

EXECUTORS = ("sequential", "threads", "async", "processes", "dask", "fake")
CONCURRENT = tuple(name for name in EXECUTORS if name != "sequential")
LOCAL = ("sequential", "threads", "async")
WAIT_LIMIT_S = 10.0  # how long a stage waits for another one before giving up


class FakeExecutor:
    """The smallest executor object flowkit's protocol allows: one daemon thread per call,
    completions on a queue. It is the one place to adapt when the protocol changes."""

    def __init__(self) -> None:
        self._done: queue.Queue[tuple[object, Completion]] = queue.Queue()
        self._current: dict[Hashable, object] = {}  # key -> token of its live submission

    def start(self, max_workers: int | None) -> int:
        return max_workers or 4

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        token = self._current[key] = object()  # a key may come back for its next attempt

        def call() -> None:
            try:
                completion = Completion(key, True, call_stage(stage, kwargs), worker="fake")
            except BaseException as error:  # an executor reports whatever the call raised
                completion = Completion(key, False, error, worker="fake")
            self._done.put((token, completion))

        threading.Thread(target=call, daemon=True).start()

    def wait(self, timeout: float | None) -> list[Completion]:
        try:
            done = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._done.empty():
            done.append(self._done.get_nowait())
        live = [c for token, c in done if self._current.get(c.key) is token]
        for completion in live:
            del self._current[completion.key]
        return live

    def cancel(self, key: Hashable) -> None:
        self._current.pop(key, None)

    def shutdown(self) -> None:
        """Nothing to release: call threads are daemons."""


def make_executor(spec: str, client: Any = None) -> Any:
    """The ``executor=`` argument for ``spec``: a name, ``"fake"``, ``"dask"`` (with
    ``client``) or ``"dask:ADDRESS"``."""
    if spec == "fake":
        return FakeExecutor()
    if spec.startswith("dask"):
        from flowkit.executors import DaskExecutor

        return DaskExecutor(client if client is not None else spec.partition(":")[2])
    return spec


# -- files shared by the driver and stages, whatever process a stage runs in -----------------


def bump(workdir: str, name: str) -> int:
    """Count one more call of ``name``; return the count (1 for the first call)."""
    path = Path(workdir) / f"{name}.count"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
    return path.stat().st_size


def count(workdir: str, name: str) -> int:
    path = Path(workdir) / f"{name}.count"
    return path.stat().st_size if path.exists() else 0


def stamp(workdir: str, name: str) -> None:
    """Append the current time to ``name``'s stamps (one line per call)."""
    with (Path(workdir) / f"{name}.stamps").open("a") as file:
        file.write(f"{time.time()!r}\n")


def stamps(workdir: str, name: str) -> list[float]:
    path = Path(workdir) / f"{name}.stamps"
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def touch(workdir: str, name: str) -> None:
    (Path(workdir) / name).touch()


def wait_for(workdir: str, name: str, limit: float = WAIT_LIMIT_S) -> bool:
    """Block until file ``name`` exists (True) or ``limit`` seconds passed (False). Event
    markers are named ``"<stage>@<event>"``: the driver writes one per stage event."""
    path = Path(workdir) / name
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)  # polling for a state change another process makes
    return True


# -- events ----------------------------------------------------------------------------------


def sequence(events: Iterable[dict[str, Any]], stage: str) -> list[str]:
    """The event names of ``stage``, in order."""
    return [e["event"] for e in events if e.get("stage") == stage]


def of(events: Iterable[dict[str, Any]], stage: str, event: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("stage") == stage and e["event"] == event]


def position(events: list[dict[str, Any]], stage: str, event: str, nth: int = 0) -> int:
    """The index in ``events`` of the ``nth`` ``event`` of ``stage``."""
    found = [i for i, e in enumerate(events) if e.get("stage") == stage and e["event"] == event]
    return found[nth]


def retried(attempts: int, last: str) -> list[str]:
    """The event sequence of a stage run ``attempts`` times whose last attempt gave ``last``."""
    return ["stage.started", "stage.retrying"] * (attempts - 1) + ["stage.started", last]
