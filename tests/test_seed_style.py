"""Code written for the seed ``pipelines`` module, with only its import line changed.

Everything here is written the seed's way (ids first, functions of the context dict,
``add_stage``, ``result.stages[0]``...); the only flowkit import is the line below.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pytest

from flowkit import (
    ConditionalStage,
    FunctionStage,
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineResult,
    PipelineStatus,
    Stage,
    StageResult,
    StageStatus,
)


def extract_data(context: dict[str, Any]) -> list[int]:
    return list(range(context["count"]))


def transform_data(context: dict[str, Any]) -> list[int]:
    return [x * 10 for x in context["stage_extract_output"]]


def load_data(context: dict[str, Any]) -> int:
    return sum(context["transform"])


def etl_pipeline() -> Pipeline:
    pipeline = Pipeline("daily_etl")
    pipeline.add_stage(FunctionStage("extract", extract_data))
    pipeline.add_stage(FunctionStage("transform", transform_data, depends_on=["extract"]))
    pipeline.add_stage(FunctionStage("load", load_data, depends_on=["transform"]))
    return pipeline


def test_a_pipeline_of_context_functions_runs() -> None:
    result = etl_pipeline().run(initial_context={"count": 4})

    assert result.status == PipelineStatus.SUCCESS
    assert result.pipeline_id == "daily_etl"
    assert result.successful_stages == ["extract", "transform", "load"]
    assert result.failed_stages == []
    assert result.stages[0].stage_id == "extract"
    assert result.stages[2].output == 60
    assert result.stages[-1].stage_id == "load"
    assert result.stages["transform"].output == [0, 10, 20, 30]
    assert result.duration_ms >= 0
    assert all(result.stages[i].is_success for i in range(3))


def test_stage_results_have_times_and_durations() -> None:
    before = datetime.now()
    result = etl_pipeline().run(initial_context={"count": 2})
    after = datetime.now()

    first = result.stages[0]
    assert isinstance(first, StageResult)
    assert first.start_time is not None
    assert first.end_time is not None
    assert before <= first.start_time <= first.end_time <= after
    assert first.duration_ms == pytest.approx(first.duration * 1000)


def test_a_one_parameter_lambda_does_not_make_its_parameter_an_input() -> None:
    pipeline = Pipeline(pipeline_id="lambdas", name="Lambdas")
    pipeline.add_stage(FunctionStage("double", lambda ctx: ctx["input"] * 2))

    assert "ctx" not in pipeline.inputs
    assert pipeline.run(initial_context={"input": 21}).stages[0].output == 42


def test_set_context_and_add_stage_chain() -> None:
    pipeline = (
        Pipeline("chained")
        .set_context("greeting", "hello")
        .add_stage(FunctionStage("shout", lambda ctx: ctx["greeting"].upper()))
    )

    assert pipeline.run().stages[0].output == "HELLO"


def test_execute_calls_the_function_with_the_mapping() -> None:
    stage = FunctionStage("extract", extract_data)

    assert stage.execute({"count": 3}) == [0, 1, 2]
    assert stage.stage_id == "extract"


def test_builder_in_the_seed_form() -> None:
    pipeline = (
        PipelineBuilder("built")
        .context("base", 5)
        .stage("step1", lambda ctx: ctx["base"] + 1)
        .stage("step2", lambda ctx: ctx["step1"] * 2, depends_on=["step1"], retry_count=1)
        .parallel(
            "fan",
            [
                FunctionStage("left", lambda ctx: ctx["stage_step2_output"] - 1),
                FunctionStage("right", lambda ctx: ctx["base"]),
            ],
            depends_on=["step2"],
        )
        .build()
    )

    result = pipeline.run()

    assert result.successful_stages == ["step1", "step2", "fan"]
    assert result.stages[2].output == {"left": 11, "right": 5}


def test_retry_count_retries_with_the_seed_backoff() -> None:
    calls: list[float] = []

    def flaky(context: dict[str, Any]) -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    pipeline = Pipeline("retrying").add_stage(FunctionStage("flaky", flaky, retry_count=2))
    result = pipeline.run()

    assert result.stages[0].output == "ok"
    assert result.stages[0].attempts == 3
    assert calls[1] - calls[0] >= 0.1
    assert calls[2] - calls[1] >= 0.2


def test_timeout_s_fails_a_slow_stage() -> None:
    release = threading.Event()

    def slow(context: dict[str, Any]) -> None:
        release.wait(10)

    pipeline = Pipeline("slow").add_stage(FunctionStage("slow", slow, timeout_s=0.05))
    try:
        result = pipeline.run()
    finally:
        release.set()

    assert result.failed_stages == ["slow"]
    assert isinstance(result.stages[0].error, TimeoutError)


def test_conditional_stage_executed_directly() -> None:
    inner = FunctionStage("report", lambda ctx: f"rows={ctx['rows']}")
    conditional = ConditionalStage("maybe_report", lambda ctx: ctx["rows"] > 0, inner)

    assert conditional.execute({"rows": 3}) == "rows=3"
    assert conditional.execute({"rows": 0}) is None


def test_conditional_stage_in_a_pipeline_is_skipped_when_false() -> None:
    pipeline = Pipeline("conditional")
    pipeline.add_stage(FunctionStage("count", lambda ctx: ctx["n"]))
    pipeline.add_stage(
        ConditionalStage(
            "big",
            lambda ctx: ctx["stage_count_output"] > 10,
            FunctionStage("shout", lambda ctx: "big!", depends_on=["count"]),
        )
    )

    small = pipeline.run(initial_context={"n": 3})
    large = pipeline.run(initial_context={"n": 30})

    assert small.stages[1].status == StageStatus.SKIPPED
    assert small.successful_stages == ["count"]
    assert large.stages[1].status == StageStatus.SUCCESS
    assert large.stages["big"].output == "big!"


def test_parallel_stage_executed_directly() -> None:
    group = ParallelStage(
        "both",
        [
            FunctionStage("plus", lambda ctx: ctx["x"] + 1),
            FunctionStage("times", lambda ctx: ctx["x"] * 3),
        ],
        max_workers=4,
    )

    assert group.execute({"x": 2}) == {"plus": 3, "times": 6}


def test_parallel_children_run_at_the_same_time_in_a_pipeline() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(context: dict[str, Any]) -> str:
        barrier.wait()
        return str(context["stage_seed_output"])

    pipeline = Pipeline("parallel")
    pipeline.add_stage(FunctionStage("seed", lambda ctx: "s"))
    pipeline.add_stage(
        ParallelStage(
            "meet", [FunctionStage("a", meet), FunctionStage("b", meet)], depends_on=["seed"]
        )
    )
    pipeline.add_stage(FunctionStage("after", lambda ctx: sorted(ctx["meet"]), depends_on=["meet"]))

    result = pipeline.run()

    assert result.stages["meet"].output == {"a": "s", "b": "s"}
    assert result.stages[2].output == ["a", "b"]


def test_fail_fast_stops_after_the_first_failure() -> None:
    ran: list[str] = []

    def boom(context: dict[str, Any]) -> None:
        raise ValueError("bad input")

    def later(context: dict[str, Any]) -> None:
        ran.append("later")

    pipeline = Pipeline(pipeline_id="failing", fail_fast=True)
    pipeline.add_stage(FunctionStage("boom", boom))
    pipeline.add_stage(FunctionStage("later", later, depends_on=["boom"]))

    result = pipeline.run(executor="sequential")

    assert result.status == PipelineStatus.FAILED
    assert result.failed_stages == ["boom"]
    assert result.successful_stages == []
    assert result.stages[1].status == StageStatus.CANCELLED
    assert ran == []
    assert not result.stages[0].is_success


class Audited(Stage):
    """A seed-style subclass: ids first, execute(context), hook methods."""

    def __init__(self, stage_id: str, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(stage_id, **kwargs)
        self.fail = fail
        self.seen: list[tuple[str, str, Any]] = []

    def execute(self, context: dict[str, Any]) -> Any:
        if self.fail:
            raise RuntimeError("audit failed")
        return context["value"] + 1

    def on_success(self, result: Any, context: dict[str, Any]) -> None:
        self.seen.append(("success", result.stage_id, context["value"]))

    def on_failure(self, result: Any, context: dict[str, Any]) -> None:
        self.seen.append(("failure", result.stage_id, type(result.error).__name__))


def test_a_subclass_runs_and_its_hook_methods_are_called() -> None:
    good = Audited("good", name="Good audit")
    bad = Audited("bad", fail=True, retry_count=1)
    pipeline = Pipeline("audits", fail_fast=False).add_stage(good).add_stage(bad)

    result = pipeline.run(initial_context={"value": 1})

    assert result.stages["good"].output == 2
    assert good.seen == [("success", "good", 1)]
    assert bad.seen == [("failure", "bad", "RuntimeError")]
    assert result.stages["bad"].attempts == 2
    assert (good.stage_id, good.display_name, bad.retry_count) == ("good", "Good audit", 1)


def test_a_subclass_executed_directly() -> None:
    assert Audited("direct").execute({"value": 41}) == 42


def test_a_raising_hook_method_does_not_change_the_status() -> None:
    class Fragile(Audited):
        def on_success(self, result: Any, context: dict[str, Any]) -> None:
            raise KeyError("hook bug")

    result = Pipeline("fragile").add_stage(Fragile("fragile")).run(initial_context={"value": 0})

    assert result.stages[0].status == StageStatus.SUCCESS
    assert isinstance(result, PipelineResult)
