"""``ParallelStage``: children run concurrently; output and results by child name."""

from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

from flowkit import (
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineDefinitionError,
    StageStatus,
    stage,
)


def test_children_run_concurrently_and_output_is_by_child_name() -> None:
    barrier = threading.Barrier(3, timeout=5)  # passes only if all three run at once

    def a() -> str:
        barrier.wait()
        return "a"

    def b() -> str:
        barrier.wait()
        return "b"

    def c() -> str:
        barrier.wait()
        return "c"

    pipeline = Pipeline([ParallelStage("group", [a, b, c])])
    result = pipeline.run()

    assert result["group"] == {"a": "a", "b": "b", "c": "c"}
    assert set(result.stages["group"].children) == {"a", "b", "c"}


def test_children_take_dependencies_and_inputs_of_the_group() -> None:
    def doubled(prepared: int) -> int:
        return prepared * 2

    def scaled(prepared: int, factor: int) -> int:
        return prepared * factor

    pipeline = (
        PipelineBuilder("deps")
        .stage(lambda base: base + 1, name="prepared")
        .parallel("group", doubled, scaled)
        .build()
    )

    assert pipeline.dependencies("group") == ("prepared",)
    assert set(pipeline.inputs) == {"base", "factor"}
    assert pipeline.run({"base": 1, "factor": 10})["group"] == {"doubled": 4, "scaled": 20}


def test_two_children_with_one_name_are_a_definition_error() -> None:
    def twin() -> int:
        return 1

    with pytest.raises(PipelineDefinitionError, match="twin"):
        ParallelStage("group", [twin, stage(twin)])


def test_a_failing_child_fails_the_group_after_all_children_finish() -> None:
    finished = threading.Event()

    def slow_ok() -> str:
        time.sleep(0.2)
        finished.set()
        return "ok"

    def broken() -> str:
        raise RuntimeError("child broke")

    @stage
    def after(group: dict[str, str]) -> int:
        return len(group)

    pipeline = Pipeline([ParallelStage("group", [slow_ok, broken]), after])
    result = pipeline.run()

    group = result.stages["group"]
    assert finished.is_set()
    assert group.status is StageStatus.FAILED
    assert str(group.error) == "child broke"
    assert group.children["slow_ok"].status is StageStatus.SUCCESS
    assert group.children["broken"].status is StageStatus.FAILED
    assert result.stages["after"].status is StageStatus.CANCELLED


def test_children_keep_their_own_retries_and_events_carry_their_names() -> None:
    tries: list[int] = []

    @stage(retries=2)
    def flaky() -> str:
        tries.append(1)
        if len(tries) < 2:
            raise ConnectionError("again")
        return "fine"

    def steady() -> str:
        return "steady"

    with capture_logs() as logs:
        result = Pipeline([ParallelStage("group", [flaky, steady])]).run()

    assert result["group"] == {"flaky": "fine", "steady": "steady"}
    assert result.stages["group"].children["flaky"].attempts == 2
    stages = {log.get("stage") for log in logs if log["event"].startswith("stage.")}
    assert {"group", "flaky", "steady"} <= stages
    assert any(log["event"] == "stage.retrying" and log["stage"] == "flaky" for log in logs)


def test_other_stages_depend_on_the_group_name() -> None:
    def one() -> int:
        return 1

    def two() -> int:
        return 2

    @stage
    def total(numbers: dict[str, int]) -> int:
        return sum(numbers.values())

    pipeline = Pipeline([ParallelStage("numbers", [one, two], max_workers=1), total])

    assert pipeline.dependencies("total") == ("numbers",)
    assert pipeline.run()["total"] == 3


def test_execute_outside_a_pipeline_runs_the_children_silently() -> None:
    def one(x: int) -> int:
        return x

    def two(x: int) -> int:
        return x * 2

    with capture_logs() as logs:
        output = ParallelStage("g", [one, two]).execute({"x": 3})

    assert output == {"one": 3, "two": 6}
    assert logs == []


def test_a_child_may_wait_for_a_stage_outside_the_group() -> None:
    order: list[str] = []

    @stage
    def extract() -> int:
        order.append("extract")
        return 1

    @stage(depends_on=["extract"])
    def after_extract() -> int:
        order.append("after_extract")
        return 2

    def independent() -> int:
        return 3

    pipeline = Pipeline([ParallelStage("group", [after_extract, independent]), extract])

    assert pipeline.dependencies("group") == ("extract",)
    assert pipeline.run()["group"] == {"after_extract": 2, "independent": 3}
    assert order == ["extract", "after_extract"]


def test_a_child_may_take_a_siblings_output_without_it_becoming_an_input() -> None:
    def base() -> int:
        return 2

    def doubled(base: int) -> int:
        return base * 2

    pipeline = Pipeline([ParallelStage("group", [base, doubled])])

    assert dict(pipeline.inputs) == {}
    assert pipeline.run()["group"] == {"base": 2, "doubled": 4}
