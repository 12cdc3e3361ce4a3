"""Static types of the seed forms (DESIGN §11.3): checked by ``mypy --strict tests/typing``
and run by pytest. Lines that must be rejected carry ``# type: ignore[...]`` under
``TYPE_CHECKING`` (an unneeded ignore is an error under ``--strict``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, assert_type

from flowkit import (
    ConditionalStage,
    FunctionStage,
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineResult,
    Stage,
    StageResult,
)


def extract(context: dict[str, Any]) -> list[int]:
    return [int(context["n"])]


class Audited(Stage):
    def __init__(self, stage_id: str, name: str | None = None) -> None:
        super().__init__(stage_id, name, ["extract"], 1, 2.0)

    def execute(self, context: dict[str, Any]) -> Any:
        return context["extract"]

    def on_success(self, result: StageResult, context: dict[str, Any]) -> None:
        pass


def test_function_stage_seed_form_keeps_the_function_type() -> None:
    made = FunctionStage("extract", extract, depends_on=["x"], retry_count=2, timeout_s=1.0)

    typed: FunctionStage[[dict[str, Any]], list[int]] = made
    assert_type(made({"n": 1}), list[int])
    if TYPE_CHECKING:
        FunctionStage("extract", extract, retries=2)  # type: ignore[call-overload]
        _wrong: FunctionStage[[int], list[int]] = made  # type: ignore[assignment]
    assert typed.execute({"n": 2}) == [2]
    assert_type(made.stage_id, str)
    assert_type(made.retry_count, int)
    assert_type(made.timeout_s, float | None)


def test_flowkit_form_is_unchanged() -> None:
    made = FunctionStage(extract, name="other")

    typed: FunctionStage[[dict[str, Any]], list[int]] = made
    assert typed.name == "other"


def test_conditional_and_parallel_seed_forms() -> None:
    inner = FunctionStage("extract", extract)
    gate = ConditionalStage("gate", lambda ctx: bool(ctx["n"]), inner)
    group = ParallelStage("group", [inner], max_workers=4, depends_on=["gate"])

    assert_type(gate, ConditionalStage[..., Any])
    assert_type(group.execute({"n": 3}), object)
    if TYPE_CHECKING:
        ConditionalStage("gate", lambda ctx: True)  # type: ignore[call-overload]
    assert gate.execute({"n": 0}) is None


def test_pipeline_seed_methods_chain() -> None:
    pipeline = Pipeline("daily").add_stage(Audited("audit")).set_context("n", 1)
    other = Pipeline(pipeline_id="p", name="P", fail_fast=False)

    assert_type(pipeline, Pipeline)
    assert_type(other.pipeline_id, str)
    assert isinstance(Pipeline("x").add_stage(FunctionStage("extract", extract)), Pipeline)


def test_builder_seed_forms() -> None:
    builder = (
        PipelineBuilder("b")
        .context("n", 2)
        .stage("extract", extract, retry_count=1)
        .parallel("group", [FunctionStage("copy", extract)], depends_on=["extract"])
    )

    assert_type(builder, PipelineBuilder)
    result = builder.build().run(initial_context={"n": 3}, executor="sequential")
    assert_type(result, PipelineResult)
    assert result.ok


def test_result_seed_aliases() -> None:
    pipeline = Pipeline("typed").add_stage(FunctionStage("extract", extract))
    result = pipeline.run(initial_context={"n": 1}, executor="sequential")

    first = result.stages[0]
    assert_type(first, StageResult)
    assert_type(result.stages["extract"], StageResult)
    assert_type(result.successful_stages, list[str])
    assert_type(result.failed_stages, list[str])
    assert_type(result.duration_ms, float)
    assert_type(result.pipeline_id, str)
    assert_type(first.is_success, bool)
    assert_type(first.duration_ms, float)
    assert_type(first.start_time, datetime | None)
    assert_type(first.end_time, datetime | None)
    if TYPE_CHECKING:
        result.stages[1.5]  # type: ignore[index]
    assert first.stage_id == "extract"
