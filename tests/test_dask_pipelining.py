"""Pipelined submission and chunked ``map_over`` on Dask (DESIGN 11.6), on a real
LocalCluster of two single-threaded worker processes: dependents wait on the scheduler
before their dependencies end, and nothing about a stage is decided early."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from dask_pipelines import early  # noqa: E402 - after the importorskip on purpose

from flowkit import PipelineStatus, StageStatus  # noqa: E402
from flowkit.executors import DaskExecutor  # noqa: E402

LIMIT_S = 60.0


@pytest.fixture(scope="module")
def executor() -> Iterator[DaskExecutor]:
    with DaskExecutor(n_workers=2, threads_per_worker=1) as dask_executor:
        yield dask_executor


def _until(check: Callable[[], bool], limit: float = LIMIT_S) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)  # polling for a state another process changes
    return False


def _tasks_named(client: Any, *names: str) -> list[str]:
    """The scheduler's tasks of stages ``names`` (Dask keys start with the stage name)."""

    def keys(dask_scheduler: Any) -> list[str]:
        return [str(key) for key in dask_scheduler.tasks]

    found: list[str] = client.run_on_scheduler(keys)
    return [key for key in found if key.rpartition("-")[0] in names]


def _in_background(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _sequence(events: list[dict[str, Any]], name: str) -> list[str]:
    return [e["event"] for e in events if e.get("stage") == name and "item" not in e]


# -- pipelined submission --------------------------------------------------------------------


def test_dependents_wait_on_the_scheduler_while_their_dependency_runs(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    seen: list[str] = []

    def look_then_release() -> None:
        early.wait_for(tmp_path / "head.started")
        _until(lambda: len(_tasks_named(executor.client, "middle", "tail")) == 2)
        seen.extend(_tasks_named(executor.client, "middle", "tail"))
        (tmp_path / "head.release").touch()

    looker = _in_background(look_then_release)
    result = early.chain.run({"workdir": str(tmp_path)}, executor=executor)
    looker.join(LIMIT_S)

    assert sorted(key.rpartition("-")[0] for key in seen) == ["middle", "tail"]
    assert result["tail"] == 20
    assert [early.runs(str(tmp_path), name) for name in ("head", "middle", "tail")] == [1, 1, 1]
    for name in ("head", "middle", "tail"):
        assert _sequence(events, name) == ["stage.started", "stage.succeeded"], name
    order = [(e["stage"], e["event"]) for e in events if e.get("stage")]
    assert order.index(("middle", "stage.started")) > order.index(("head", "stage.succeeded"))


def test_a_failed_dependency_cancels_its_early_dependents_which_never_run(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    result = early.broken.run({"workdir": str(tmp_path)}, executor=executor, fail_fast=False)

    assert result.stages["breaks"].status is StageStatus.FAILED
    for name in ("after_breaks", "skipped_default"):  # cancel beats skip
        assert result.stages[name].status is StageStatus.CANCELLED, name
        assert _sequence(events, name) == ["stage.cancelled"], name
    assert early.runs(str(tmp_path), "after_breaks") == 0


def test_a_dependent_sent_early_behind_a_failed_attempt_runs_once_after_the_retry(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    result = early.retried.run({"workdir": str(tmp_path)}, executor=executor)

    assert result.stages["flaky_head"].attempts == 2
    assert result["after_flaky"] == 21  # the second attempt's output
    assert early.runs(str(tmp_path), "after_flaky") == 1


def test_fail_fast_withdraws_early_dependents_before_their_dependency_ends(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    def release_once_withdrawn() -> None:
        _until(lambda: any(e["event"] == "stage.failed" for e in events))
        _until(lambda: not _tasks_named(executor.client, "after_slow"))
        (tmp_path / "slow_head.release").touch()

    releaser = _in_background(release_once_withdrawn)
    result = early.failing.run({"workdir": str(tmp_path)}, executor=executor, fail_fast=True)
    releaser.join(LIMIT_S)

    assert result.stages["fails"].status is StageStatus.FAILED
    assert result["slow_head"] == 1  # running stages finish
    assert result.stages["after_slow"].status is StageStatus.CANCELLED
    assert _sequence(events, "after_slow") == ["stage.cancelled"]
    assert early.runs(str(tmp_path), "after_slow") == 0


def test_a_timeout_counts_from_the_start_on_the_worker_not_the_time_queued(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    queued_first: list[bool] = []

    def hold_the_workers() -> None:
        early.wait_for(tmp_path / "blocker_a.started")
        early.wait_for(tmp_path / "blocker_b.started")
        queued_first.append(not (tmp_path / "queued_quick.ran").exists())
        time.sleep(1.0)  # deliberately longer than queued_quick's timeout of 0.5 s
        (tmp_path / "blockers.release").touch()

    holder = _in_background(hold_the_workers)
    result = early.queued.run({"workdir": str(tmp_path)}, executor=executor)
    holder.join(LIMIT_S)

    assert queued_first == [True]  # it waited in the queue, past its timeout
    assert result["queued_quick"] == "in time"


def test_fail_fast_withdraws_calls_still_waiting_in_the_cluster_s_queue(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """Both workers are busy when ``judged`` fails: the ``waiting_*`` calls, queued on the
    cluster, never start (no ``stage.started``), while the busy ones finish."""

    def stopped_everywhere() -> bool:
        from flowkit.executors import _dask_pickling

        token = executor._token  # this run's
        return all(executor.client.run(lambda: token in _dask_pickling._STOPPED).values())

    def release_once_withdrawn() -> None:
        _until(lambda: any(e["event"] == "stage.failed" for e in events))
        _until(stopped_everywhere)
        (tmp_path / "busy.release").touch()

    releaser = _in_background(release_once_withdrawn)
    result = early.withdrawn.run({"workdir": str(tmp_path)}, executor=executor)
    releaser.join(LIMIT_S)

    assert result.stages["judged"].status is StageStatus.FAILED
    assert (result["busy_a"], result["busy_b"]) == ("a", "b")  # running ones finish
    for name in ("waiting_1", "waiting_2", "waiting_3"):
        stage = result.stages[name]
        assert (stage.status, stage.attempts) == (StageStatus.CANCELLED, 0), name
        assert _sequence(events, name) == ["stage.cancelled"], name
    assert early.runs(str(tmp_path), "waiting") == 0


def test_stage_started_comes_when_the_call_starts_on_a_worker(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """``queued_quick`` waits in the queue while both workers are busy: its
    ``stage.started`` comes after the busy ones were released, not when it was sent."""
    started_before_release: list[bool] = []

    def hold_the_workers() -> None:
        early.wait_for(tmp_path / "blocker_a.started")
        early.wait_for(tmp_path / "blocker_b.started")
        started = [e for e in events if e.get("stage") == "queued_quick"]
        started_before_release.append(bool(started))
        (tmp_path / "blockers.release").touch()

    holder = _in_background(hold_the_workers)
    result = early.queued.run({"workdir": str(tmp_path)}, executor=executor)
    holder.join(LIMIT_S)

    assert result.ok
    assert started_before_release == [False]
    assert _sequence(events, "queued_quick") == ["stage.started", "stage.succeeded"]


# -- map_over in chunks ------------------------------------------------------------------------


def test_items_run_in_chunks_of_the_size_asked(tmp_path: Path) -> None:
    with DaskExecutor(n_workers=2, threads_per_worker=1, map_chunk_size=5) as executor:
        result = early.chunked.run({"count": 20}, executor=executor)

    tasks = result["task_of"]
    assert len(tasks) == 20
    assert len(set(tasks)) == 4
    assert [len({*tasks[i : i + 5]}) for i in range(0, 20, 5)] == [1, 1, 1, 1]


def test_by_default_items_go_in_about_four_chunks_per_worker_thread(
    executor: DaskExecutor,
) -> None:
    result = early.chunked.run({"count": 40}, executor=executor)

    assert len(set(result["task_of"])) == 8  # 2 threads x 4 chunks of 5


def test_an_item_failing_in_a_chunk_does_not_fail_the_others(
    executor: DaskExecutor, events: list[dict[str, Any]]
) -> None:
    result = early.failing_items.run({"count": 10}, executor=executor)

    stage = result.stages["third_fails"]
    assert stage.status is StageStatus.FAILED
    assert "3" in str(stage.error)
    items = [e for e in events if e.get("stage") == "third_fails" and "item" in e]
    assert sorted(e["item"] for e in items if e["event"] == "stage.succeeded") == [
        0,
        1,
        2,
        4,
        5,
        6,
        7,
        8,
        9,
    ]
    assert [e["item"] for e in items if e["event"] == "stage.failed"] == [3]


def test_a_failed_item_in_a_chunk_is_retried_alone(executor: DaskExecutor, tmp_path: Path) -> None:
    result = early.retried_items.run({"count": 10, "workdir": str(tmp_path)}, executor=executor)

    assert result.status is PipelineStatus.SUCCESS
    assert result["third_fails_once"] == [n * 2 for n in range(10)]
    assert result.stages["third_fails_once"].attempts == 2
    assert early.runs(str(tmp_path), "third") == 2


def test_an_item_whose_output_cannot_travel_fails_alone(
    executor: DaskExecutor, events: list[dict[str, Any]]
) -> None:
    result = early.unpicklable_item.run({"count": 6}, executor=executor)

    stage = result.stages["third_unpicklable"]
    assert stage.status is StageStatus.FAILED
    assert "outputs must pickle" in str(stage.error)
    failed = [
        e["item"] for e in events if e.get("item") is not None and e["event"] == "stage.failed"
    ]
    assert failed == [3]


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "4"])
def test_a_chunk_size_must_be_a_positive_int(size: Any) -> None:
    with pytest.raises(ValueError, match="map_chunk_size must be an int >= 1"):
        DaskExecutor(map_chunk_size=size)
