"""What the one engine adds on every executor: the DAG in ``pipeline.started``, tracebacks
in events and across processes, results built once, cached fan-outs, Dask's clock."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import engine_stages
import pytest
from structlog.testing import capture_logs

from flowkit import Pipeline, StageStatus, stage

EVENT_EXECUTORS = ("sequential", "threads", "async", "processes")


def test_pipeline_started_carries_the_dag_by_names() -> None:
    @stage
    def a() -> int:
        return 1

    @stage(depends_on=["a"])
    def b() -> int:
        return 2

    @stage
    def c(a: int, b: int) -> int:
        return a + b

    with capture_logs() as logs:
        Pipeline([a, b, c]).run()

    started = next(log for log in logs if log["event"] == "pipeline.started")
    assert started["dependencies"] == {"a": [], "b": ["a"], "c": ["a", "b"]}


def test_failed_and_retrying_events_carry_the_formatted_traceback() -> None:
    @stage(retries=1)
    def flaky() -> int:
        raise KeyError("missing")

    with capture_logs() as logs:
        Pipeline([flaky]).run(executor="sequential")

    texts = {log["event"]: log["exception"] for log in logs if "exception" in log}
    assert set(texts) == {"stage.retrying", "stage.failed"}
    for text in texts.values():
        assert text.startswith("Traceback (most recent call last)")
        assert "in flaky" in text
        assert "KeyError: 'missing'" in text


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_a_remote_error_shows_the_stage_s_own_file_and_line(executor: str) -> None:
    chosen: Any = executor
    if executor == "dask":
        dask = pytest.importorskip("flowkit.executors.dask")
        chosen = dask.DaskExecutor(n_workers=1, threads_per_worker=1)

    result = engine_stages.broken.run(executor=chosen)

    error = result.stages["breaks"].error
    assert isinstance(error, ValueError)
    text = "".join(traceback.format_exception(error))
    assert str(Path(engine_stages.__file__).name) in text
    assert "the line a remote traceback must show" in text


def test_a_dask_run_s_duration_leaves_out_starting_the_cluster() -> None:
    dask = pytest.importorskip("flowkit.executors.dask")

    start = time.monotonic()
    result = engine_stages.broken.run(
        executor=dask.DaskExecutor(n_workers=1, threads_per_worker=1), targets=["source"]
    )
    elapsed = time.monotonic() - start

    assert result.ok
    assert result.duration < elapsed / 2  # a LocalCluster takes most of the wall time


@pytest.mark.parametrize("executor", EVENT_EXECUTORS[:3])
def test_a_fan_out_of_cache_hits_is_cached_in_result_and_events(
    executor: str, tmp_path: Path
) -> None:
    @stage(cache=True, map_over="items")
    def each(items: int) -> int:
        return items * 2

    pipeline = Pipeline([each])
    pipeline.run({"items": [1, 2]}, cache=tmp_path, executor=executor)
    with capture_logs() as logs:
        again = pipeline.run({"items": [1, 2]}, cache=tmp_path, executor=executor)

    mine = [log for log in logs if log.get("stage") == "each" and "item" not in log]
    assert again["each"] == [2, 4]
    assert (again.stages["each"].cached, again.stages["each"].attempts) == (True, 0)
    assert [(log["event"], log.get("cached"), log.get("attempt")) for log in mine] == [
        ("stage.succeeded", True, 0)
    ]


def test_outputs_are_built_once_and_read_only() -> None:
    result = Pipeline([stage(lambda: 1, name="one")]).run()

    assert result.outputs is result.outputs
    assert result.outputs == {"one": 1}
    with pytest.raises(TypeError, match="read-only"):
        result.outputs["two"] = 2  # type: ignore[index]


def test_system_exit_in_a_stage_fails_it_and_the_others_run() -> None:
    def exits() -> None:
        raise SystemExit(3)

    result = Pipeline([stage(exits), stage(lambda: 2, name="other")], fail_fast=False).run()

    assert result.stages["exits"].status is StageStatus.FAILED
    assert isinstance(result.stages["exits"].error, SystemExit)
    assert result["other"] == 2
