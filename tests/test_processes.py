"""The ``processes`` executor: real worker processes, killed at their timeout."""

from __future__ import annotations

import os
import threading
import time

import proc_stages
import pytest

from flowkit import Pipeline, PipelineDefinitionError, StageStatus, StageTimeoutError, stage


def test_stages_run_in_other_processes_and_results_match_threads() -> None:
    threads = proc_stages.pipeline.run({"x": 3}, executor="threads", targets=["squared"])
    processes = proc_stages.pipeline.run({"x": 3}, executor="processes", targets=["squared", "pid"])

    assert processes.ok
    assert threads["squared"] == processes["squared"] == [0, 1, 4, 9]
    assert processes["pid"] != os.getpid()


def test_a_hanging_stage_is_killed_at_its_timeout_and_the_pipeline_goes_on() -> None:
    start = time.monotonic()
    result = proc_stages.pipeline.run(
        {"x": 1}, executor="processes", targets=["hangs", "after_hang"], max_workers=2
    )
    elapsed = time.monotonic() - start

    hang = result.stages["hangs"]
    assert hang.status is StageStatus.FAILED
    assert isinstance(hang.error, StageTimeoutError)
    assert result["after_hang"] == 20
    assert elapsed < 20  # the stage sleeps 60 s: it was killed, not waited for


def test_an_unpicklable_stage_is_refused_before_any_stage_runs() -> None:
    calls: list[int] = []

    def local(x: int) -> int:
        calls.append(x)
        return x

    pipeline = Pipeline([local], name="local")

    with pytest.raises(PipelineDefinitionError, match="local"):
        pipeline.run({"x": 1}, executor="processes")
    assert calls == []


def test_an_unpicklable_argument_fails_the_stage_naming_it_and_its_type() -> None:
    result = proc_stages.unpicklable_value.run({"lock": threading.Lock()}, executor="processes")

    failed = result.stages["takes_lock"]
    assert failed.status is StageStatus.FAILED
    assert "takes_lock" in str(failed.error)
    assert "'lock'" in str(failed.error)
    assert "type lock" in str(failed.error)


def test_an_unpicklable_output_fails_the_stage_naming_the_type() -> None:
    result = proc_stages.returns_lock.run(executor="processes")

    failed = result.stages["unpicklable_output"]
    assert failed.status is StageStatus.FAILED
    assert "unpicklable_output" in str(failed.error)
    assert "type lock" in str(failed.error)


@stage
def in_main_like(x: int) -> int:
    return x


def test_a_stage_from_main_is_refused_with_a_clear_message() -> None:
    in_main_like.__module__ = "__main__"
    pipeline = Pipeline([in_main_like], name="m")

    with pytest.raises(PipelineDefinitionError, match="__main__"):
        pipeline.run({"x": 1}, executor="processes")
