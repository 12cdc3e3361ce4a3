"""Concurrency limits on every executor (DESIGN §11.5): at most n stages or ``map_over`` items
carrying a limited tag run at once, measured by a counter the stages keep in a shared file;
a call waiting for a slot holds no worker, so an untagged stage is not held behind it; a
slot frees when its attempt ends, however it ends."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contract.harness import WAIT_LIMIT_S, bump, touch, wait_for
from flowkit import ParallelStage, Pipeline, StageStatus, stage


@contextmanager
def _counter(workdir: str) -> Iterator[list[int]]:
    """The shared ``[active, peak]`` of the tagged calls, under an exclusive file lock."""
    fd = os.open(Path(workdir) / "db.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = Path(workdir) / "db.counter"
        values = [int(v) for v in path.read_text().split()] if path.exists() else [0, 0]
        yield values
        path.write_text(f"{values[0]} {values[1]}")
    finally:
        os.close(fd)  # releases the lock


def _active(workdir: str) -> int:
    with _counter(workdir) as values:
        return values[0]


def peak(workdir: str) -> int:
    with _counter(workdir) as values:
        return values[1]


def occupy(workdir: str, limit: int) -> None:
    """Count this call in, wait until ``limit`` tagged calls run at once, then give more
    calls a moment to pile in (they would without the limit: the peak would pass it), then
    count it out."""
    with _counter(workdir) as values:
        values[0] += 1
        values[1] = max(values[1], values[0])
    for wanted, seconds in ((lambda n: n >= limit, 2.0), (lambda n: n > limit, 0.3)):
        deadline = time.monotonic() + seconds
        while not wanted(_active(workdir)) and time.monotonic() < deadline:
            time.sleep(0.005)  # polling a counter other processes change
    with _counter(workdir) as values:
        values[0] -= 1


@stage(tags={"db"})
def load_a(workdir: str, limit: int) -> int:
    occupy(workdir, limit)
    return 1


@stage(tags={"db"})
def load_b(workdir: str, limit: int) -> int:
    occupy(workdir, limit)
    return 2


@stage(tags={"db", "io"})
def load_c(workdir: str, limit: int) -> int:
    occupy(workdir, limit)
    return 3


@stage(tags={"db"})
def load_d(workdir: str, limit: int) -> int:
    occupy(workdir, limit)
    return 4


@stage(tags={"db"}, map_over="items")
def per_row(items: int, workdir: str, limit: int) -> int:
    occupy(workdir, limit)
    return items * 10


@stage(tags={"db"})
def holds_the_slot(workdir: str) -> bool:
    """Waits for the untagged stage to finish while holding the only ``db`` slot."""
    return wait_for(workdir, "untagged.done", WAIT_LIMIT_S)


@stage(tags={"db"})
def waits_for_the_slot(workdir: str) -> str:
    return "second"


@stage
def untagged(workdir: str) -> str:
    touch(workdir, "untagged.done")
    return "free"


@stage(tags={"db"}, retries=2)
def flaky(workdir: str) -> str:
    if bump(workdir, "flaky") == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


@stage(tags={"db"})
def broken(workdir: str) -> str:
    raise ValueError("always fails")


@stage(tags={"db"}, timeout=0.3)
def too_slow(workdir: str) -> str:
    wait_for(workdir, "release", WAIT_LIMIT_S)
    return "late"


@stage(tags={"db"})
def after(workdir: str) -> str:
    return "ran"


def _limit(executor: Any) -> int:
    """2 where more than 2 calls can run at once, else 1 (sequential; processes and Dask
    have 2 workers on the test machines)."""
    return 2 if executor in ("threads", "async") or not isinstance(executor, str) else 1


def test_no_more_than_n_tagged_stages_run_at_once(executor: Any, workdir: str) -> None:
    pipeline = Pipeline([load_a, load_b, load_c, load_d], limits={"db": 3})

    n = _limit(executor)

    result = pipeline.run({"workdir": workdir, "limit": n}, executor=executor, limits={"db": n})

    assert result.ok, result
    assert [r.output for r in result.stages.values()] == [1, 2, 3, 4]
    assert peak(workdir) == n  # the run's limit wins over the pipeline's; concurrency reaches it


def test_map_over_items_of_a_tagged_stage_count_against_the_limit(
    executor: Any, workdir: str
) -> None:
    n = _limit(executor)

    result = Pipeline([per_row]).run(
        {"items": list(range(6)), "workdir": workdir, "limit": n},
        executor=executor,
        limits={"db": n},
    )

    assert result.stages["per_row"].output == [0, 10, 20, 30, 40, 50]
    assert peak(workdir) == n


def test_an_untagged_stage_is_not_held_behind_a_waiting_tagged_one(
    concurrent_executor: Any, workdir: str
) -> None:
    pipeline = Pipeline([holds_the_slot, waits_for_the_slot, untagged])

    result = pipeline.run({"workdir": workdir}, executor=concurrent_executor, limits={"db": 1})

    assert result.ok, result
    assert result.stages["holds_the_slot"].output is True  # untagged ran meanwhile
    assert result.stages["waits_for_the_slot"].output == "second"


def test_a_slot_frees_when_an_attempt_fails_retries_or_times_out(
    executor: Any, workdir: str
) -> None:
    pipeline = Pipeline([flaky, broken, too_slow, after], fail_fast=False)

    result = pipeline.run({"workdir": workdir}, executor=executor, limits={"db": 1})

    statuses = {name: r.status for name, r in result.stages.items()}
    assert statuses == {
        "flaky": StageStatus.SUCCESS,
        "broken": StageStatus.FAILED,
        "too_slow": StageStatus.FAILED,
        "after": StageStatus.SUCCESS,
    }
    assert result.stages["flaky"].attempts == 2


def test_parallel_group_children_count_against_the_limit(executor: Any, workdir: str) -> None:
    n = _limit(executor)
    loads = ParallelStage("loads", [load_a, load_b, load_c, load_d])

    result = Pipeline([loads]).run(
        {"workdir": workdir, "limit": n}, executor=executor, limits={"db": n}
    )

    assert result.ok, result
    assert result.stages["loads"].output == {"load_a": 1, "load_b": 2, "load_c": 3, "load_d": 4}
    assert peak(workdir) == n


@stage(tags={"db"})
def fails_holding_the_slot(workdir: str) -> str:
    raise ValueError("the first db stage fails")


@stage(tags={"db"})
def waits_then_never_runs(workdir: str) -> str:
    touch(workdir, "ran")
    return "ran"


def test_fail_fast_cancels_a_stage_still_waiting_for_a_slot(executor: Any, workdir: str) -> None:
    pipeline = Pipeline([fails_holding_the_slot, waits_then_never_runs], fail_fast=True)

    result = pipeline.run({"workdir": workdir}, executor=executor, limits={"db": 1})

    assert result.stages["fails_holding_the_slot"].status is StageStatus.FAILED
    waiting = result.stages["waits_then_never_runs"]
    assert waiting.status is StageStatus.CANCELLED
    assert waiting.attempts == 0
    assert not (Path(workdir) / "ran").exists()  # the freed slot started nothing


def test_a_parallel_group_runs_at_most_max_workers_children_at_once(
    executor: Any, workdir: str
) -> None:
    n = _limit(executor)
    loads = ParallelStage("loads", [load_a, load_b, load_c, load_d], max_workers=n)

    result = Pipeline([loads]).run({"workdir": workdir, "limit": n}, executor=executor)

    assert result.ok, result
    assert result.stages["loads"].output == {"load_a": 1, "load_b": 2, "load_c": 3, "load_d": 4}
    assert peak(workdir) == n
