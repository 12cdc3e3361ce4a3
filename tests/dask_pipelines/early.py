"""Pipelines for ``tests/test_dask_pipelining.py``: chains whose dependents are queued on
the scheduler early, and ``map_over`` stages whose items run in chunks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import distributed

from flowkit import Pipeline, stage

LIMIT_S = 60.0


def wait_for(path: Path, limit: float = LIMIT_S) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)  # polling for a file the test writes
    return False


def bump(workdir: str, name: str) -> int:
    """Count one more run of ``name``; return the count."""
    fd = os.open(Path(workdir) / f"{name}.count", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
    return (Path(workdir) / f"{name}.count").stat().st_size


def runs(workdir: str, name: str) -> int:
    path = Path(workdir) / f"{name}.count"
    return path.stat().st_size if path.exists() else 0


# -- a chain whose head waits until the test has looked at the scheduler --------------------


@stage
def head(workdir: str) -> int:
    bump(workdir, "head")
    (Path(workdir) / "head.started").touch()
    wait_for(Path(workdir) / "head.release")
    return 1


@stage
def middle(head: int, workdir: str) -> int:
    bump(workdir, "middle")
    return head + 1


@stage
def tail(middle: int, workdir: str) -> int:
    bump(workdir, "tail")
    return middle * 10


chain = Pipeline([head, middle, tail], name="early_chain")

# -- a dependency that fails, and one retried ----------------------------------------------


@stage
def breaks(workdir: str) -> int:
    bump(workdir, "breaks")
    raise ValueError("breaks on purpose")


@stage
def after_breaks(breaks: int, workdir: str) -> int:
    bump(workdir, "after_breaks")
    return breaks


@stage
def skipped_default(after_breaks: int = 0) -> int:  # cancel beats skip: still cancelled
    return after_breaks


broken = Pipeline([breaks, after_breaks, skipped_default], name="early_broken")


@stage(retries=1, backoff=0.0)
def flaky_head(workdir: str) -> int:
    if bump(workdir, "flaky_head") == 1:
        raise ConnectionError("the first attempt fails")
    return 20


@stage
def after_flaky(flaky_head: int, workdir: str) -> int:
    bump(workdir, "after_flaky")
    return flaky_head + 1


retried = Pipeline([flaky_head, after_flaky], name="early_retried")

# -- fail-fast while a chain's head still runs ------------------------------------------------


@stage
def fails(workdir: str) -> int:
    raise RuntimeError("fails while slow_head runs")


@stage
def slow_head(workdir: str) -> int:
    wait_for(Path(workdir) / "slow_head.release")
    return 1


@stage
def after_slow(slow_head: int, workdir: str) -> int:
    bump(workdir, "after_slow")
    return slow_head


failing = Pipeline([fails, slow_head, after_slow], name="early_failing")

# -- map_over in chunks ------------------------------------------------------------------------


@stage
def numbers(count: int) -> list[int]:
    return list(range(count))


@stage(map_over="numbers")
def task_of(numbers: int) -> str:
    """The Dask task running this item: items of one chunk share it."""
    return str(distributed.get_worker().get_current_task())


chunked = Pipeline([numbers, task_of], name="chunked")


@stage(map_over="numbers", retries=1, backoff=0.0)
def third_fails_once(numbers: int, workdir: str) -> int:
    if numbers == 3 and bump(workdir, "third") == 1:
        raise ValueError("item 3 fails its first attempt")
    return numbers * 2


retried_items = Pipeline([numbers, third_fails_once], name="retried_items")


@stage(map_over="numbers")
def third_fails(numbers: int) -> int:
    if numbers == 3:
        raise ValueError("item 3 fails")
    return numbers * 2


@stage(map_over="numbers")
def third_unpicklable(numbers: int) -> object:
    import threading

    return threading.Lock() if numbers == 3 else numbers


failing_items = Pipeline([numbers, third_fails], name="failing_items")
unpicklable_item = Pipeline([numbers, third_unpicklable], name="unpicklable_item")

# -- a timeout counts from the start on the worker, not from the submission ------------------


@stage
def blocker_a(workdir: str) -> str:
    (Path(workdir) / "blocker_a.started").touch()
    wait_for(Path(workdir) / "blockers.release")
    return "a"


@stage
def blocker_b(workdir: str) -> str:
    (Path(workdir) / "blocker_b.started").touch()
    wait_for(Path(workdir) / "blockers.release")
    return "b"


@stage(timeout=0.5)
def queued_quick(workdir: str) -> str:
    (Path(workdir) / "queued_quick.ran").touch()
    return "in time"


queued = Pipeline([blocker_a, blocker_b, queued_quick], name="queued")

# -- fail-fast while calls wait in the cluster's queue ----------------------------------------


@stage
def tick() -> int:
    return 0


@stage
def busy_a(workdir: str) -> str:
    (Path(workdir) / "busy_a.started").touch()
    wait_for(Path(workdir) / "busy.release")
    return "a"


@stage
def busy_b(workdir: str) -> str:
    (Path(workdir) / "busy_b.started").touch()
    wait_for(Path(workdir) / "busy.release")
    return "b"


@stage
def waiting_1(workdir: str) -> int:
    return bump(workdir, "waiting")


@stage
def waiting_2(workdir: str) -> int:
    return bump(workdir, "waiting")


@stage
def waiting_3(workdir: str) -> int:
    return bump(workdir, "waiting")


def _raises_once_both_busy(workdir: str) -> bool:
    """A condition (evaluated in the driver) that fails once both workers are busy."""
    wait_for(Path(workdir) / "busy_a.started")
    wait_for(Path(workdir) / "busy_b.started")
    raise LookupError("the condition fails while calls wait in the queue")


@stage(when=_raises_once_both_busy, depends_on="tick")
def judged(workdir: str) -> str:
    return "never"


withdrawn = Pipeline(
    [tick, busy_a, busy_b, waiting_1, waiting_2, waiting_3, judged], name="withdrawn"
)
