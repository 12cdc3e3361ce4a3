"""Seed-style stages are first-class flowkit stages (DESIGN §11.3): mixed with decorated
stages, on every executor, with events, caching, targets and hooks; and where flowkit
stays stricter than the seed."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import seed_stages

import flowkit
from flowkit import (
    ConditionalStage,
    CycleError,
    DuplicateStageError,
    FunctionStage,
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineDefinitionError,
    PipelineResult,
    PipelineStatus,
    Retry,
    Stage,
    StageResult,
    StageStatus,
    UnknownDependencyError,
    stage,
)

# -- both styles in one pipeline -----------------------------------------------------------


def test_a_seed_stage_depends_on_a_decorated_stage_and_vice_versa(executor: str) -> None:
    @stage
    def numbers(count: int) -> list[int]:
        return list(range(count))

    total = FunctionStage("total", lambda ctx: sum(ctx["numbers"]), depends_on=["numbers"])

    @stage
    def report(total: int, numbers: list[int]) -> str:
        return f"{len(numbers)} numbers, total {total}"

    also = FunctionStage(
        "also", lambda ctx: ctx["stage_report_output"].upper(), depends_on="report"
    )
    pipeline = Pipeline([numbers, total, report, also], name="mixed")

    result = pipeline.run({"count": 4}, executor=executor)

    assert pipeline.dependencies("total") == ("numbers",)
    assert sorted(pipeline.dependencies("report")) == ["numbers", "total"]
    assert result.outputs == {
        "numbers": [0, 1, 2, 3],
        "total": 6,
        "report": "4 numbers, total 6",
        "also": "4 NUMBERS, TOTAL 6",
    }


def test_a_decorated_stage_and_a_seed_stage_share_a_parallel_group() -> None:
    @stage
    def square(x: int) -> int:
        return x * x

    group = ParallelStage("both", [square, FunctionStage("half", lambda ctx: ctx["x"] / 2)])

    assert group.execute({"x": 4}) == {"square": 16, "half": 2.0}
    assert Pipeline([group]).run({"x": 6})["both"] == {"square": 36, "half": 3.0}


def test_a_seed_condition_around_a_decorated_stage(executor: str) -> None:
    @stage
    def double(x: int) -> int:
        return 2 * x

    gate = ConditionalStage("gate", lambda ctx: ctx["x"] > 0, double)

    assert gate.execute({"x": 2, "unused": 1}) == 4
    assert gate.execute({"x": -1}) is None
    assert Pipeline([gate]).run({"x": 3}, executor=executor)["gate"] == 6
    skipped = Pipeline([gate]).run({"x": -3}, executor=executor)
    assert skipped.stages[0].status is StageStatus.SKIPPED


def test_seed_kinds_on_the_async_executor() -> None:
    result = seed_stages.pipeline().run({"x": 1}, executor="async")

    assert result.ok
    assert result.outputs["plus_ten"] == 14


def test_every_seed_kind_on_processes() -> None:
    result = seed_stages.pipeline().run({"x": 1}, executor="processes")

    assert result.ok, {n: r.error for n, r in result.stages.items()}
    assert result["plus_ten"] == 14
    assert result["decorated"] == 1400
    assert result["gate"] != 0


def test_every_seed_kind_on_dask() -> None:
    pytest.importorskip("distributed")
    from flowkit.executors import DaskExecutor

    with DaskExecutor(n_workers=1, threads_per_worker=2) as dask:
        result = seed_stages.pipeline().run({"x": 2}, executor=dask)

    assert result.ok, {n: r.error for n, r in result.stages.items()}
    assert (result["read"], result["doubled"], result["plus_ten"]) == (3, 6, 16)


def test_from_module_and_the_cli_listing_see_seed_stages() -> None:
    from flowkit.cli._describe import describe

    pipeline = Pipeline.from_module(seed_stages)
    listing = describe(seed_stages.pipeline())

    assert set(pipeline.stages) == {"read", "doubled", "plus_ten", "decorated", "gate", "group"}
    assert "when=_positive" in listing
    assert "doubled (order only)" in listing


def test_seed_stages_pickle_by_plain_state() -> None:
    for made in (seed_stages.read, seed_stages.plus_ten, seed_stages.gate, seed_stages.group):
        loaded = pickle.loads(pickle.dumps(made))  # noqa: S301 - our own pickle

        assert type(loaded) is type(made)
        assert (loaded.name, loaded.parameters, loaded.depends_on) == (
            made.name,
            made.parameters,
            made.depends_on,
        )


# -- first-class: events, cache, targets, hooks -------------------------------------------


def test_seed_stages_emit_the_usual_events(events: list[dict[str, Any]]) -> None:
    calls = iter([ValueError("first"), None])

    def flaky(context: dict[str, Any]) -> str:
        error = next(calls)
        if error is not None:
            raise error
        return "ok"

    stages = [FunctionStage("flaky", flaky, retry_count=1)]
    Pipeline(stages, name="evented").run(executor="sequential")

    assert [(e["event"], e.get("stage")) for e in events] == [
        ("pipeline.started", None),
        ("stage.started", "flaky"),
        ("stage.retrying", "flaky"),
        ("stage.started", "flaky"),
        ("stage.succeeded", "flaky"),
        ("pipeline.succeeded", None),
    ]
    assert events[2]["delay_s"] == pytest.approx(0.1)


def test_retry_count_is_the_seed_backoff() -> None:
    made = FunctionStage("s", lambda ctx: None, retry_count=3)

    assert made.retry.attempts == 4
    assert [made.retry.delay(k) for k in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])
    assert made.retry_count == 3
    assert FunctionStage("t", lambda ctx: None, timeout_s=2.5).timeout == 2.5


def _square(context: dict[str, Any]) -> int:
    return int(context["x"]) ** 2


def test_a_pure_seed_stage_is_cached(tmp_path: Path) -> None:
    pipeline = Pipeline([FunctionStage("square", _square, cache=True)])
    first = pipeline.run({"x": 3}, cache=tmp_path)
    second = pipeline.run({"x": 3}, cache=tmp_path)
    third = pipeline.run({"x": 4}, cache=tmp_path)

    assert (first["square"], second["square"], third["square"]) == (9, 9, 16)
    assert [r.stages[0].cached for r in (first, second, third)] == [False, True, False]
    assert second.stages[0].attempts == 0


def test_targets_run_only_what_a_seed_stage_needs() -> None:
    result = seed_stages.pipeline().run({"x": 1}, targets=["doubled"], executor="sequential")

    assert list(result.stages) == ["read", "doubled"]
    assert result.successful_stages == ["read", "doubled"]


class Counted(Stage):
    """A flowkit-style subclass (its own parameters) that overrides a hook method."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.hooked: list[tuple[str, dict[str, Any]]] = []

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("value",)

    def execute(self, kwargs: dict[str, Any]) -> object:
        return kwargs["value"] * 2

    def on_success(self, result: StageResult, context: Any) -> None:
        self.hooked.append((result.name, dict(context)))


def test_a_hook_method_of_a_flowkit_style_subclass_is_called(executor: str) -> None:
    counted = Counted("counted")
    follow = FunctionStage("follow", lambda ctx: ctx["counted"] + 1, depends_on=["counted"])
    called: list[str] = []

    class Follow(type(follow)):  # type: ignore[misc]
        def on_success(self, result: StageResult, context: Any) -> None:
            called.append(f"{result.name}:{context['stage_counted_output']}")

    follow.__class__ = Follow
    Pipeline([counted, follow]).run({"value": 5}, executor=executor)

    assert counted.hooked == [("counted", {"value": 5})]
    assert called == ["follow:10"]


def test_a_hook_method_runs_after_the_hook_callable(events: list[dict[str, Any]]) -> None:
    order: list[str] = []

    class Both(Stage):
        def execute(self, context: Any) -> int:
            return 1

        def on_success(self, result: StageResult, context: Any) -> None:
            order.append("method")
            raise RuntimeError("method broke")

    made = Both("both", on_success=lambda result: order.append("callable"))
    result = Pipeline([made]).run(executor="sequential")

    assert order == ["callable", "method"]
    assert result.stages[0].status is StageStatus.SUCCESS
    failed = [e for e in events if e["event"] == "stage.hook_failed"]
    assert [(e["stage"], e["status"], e["error_type"]) for e in failed] == [
        ("both", "success", "RuntimeError")
    ]
    assert "Both.on_success" in failed[0]["hook"]


def test_a_hook_method_of_the_inner_stage_of_a_condition_is_called() -> None:
    seen: list[str] = []

    class Inner(Stage):
        def execute(self, context: Any) -> int:
            raise ValueError("no")

        def on_failure(self, result: StageResult, context: Any) -> None:
            seen.append(result.name)

    gate = ConditionalStage("gate", lambda ctx: True, Inner("inner"))
    Pipeline([gate]).run(executor="sequential")

    assert seen == ["gate"]


# -- forms and names -----------------------------------------------------------------------


def test_the_seed_name_is_a_display_name() -> None:
    made = FunctionStage("extract", lambda ctx: 1, name="Extract the data")
    pipeline = Pipeline("etl", "The ETL")

    assert (made.name, made.stage_id, made.display_name) == (
        "extract",
        "extract",
        "Extract the data",
    )
    assert (pipeline.name, pipeline.pipeline_id, pipeline.display_name) == ("etl", "etl", "The ETL")
    assert Pipeline(name="plain").name == "plain"
    assert Pipeline().name == "pipeline"


def test_keyword_forms_of_the_seed() -> None:
    made = FunctionStage(stage_id="kw", func=lambda ctx: ctx["a"])
    pipeline = Pipeline(pipeline_id="ids", fail_fast=False).add_stage(made)

    assert pipeline.run(initial_context={"a": 7}).stages[0].output == 7
    assert (pipeline.name, pipeline.fail_fast) == ("ids", False)


def test_a_flowkit_function_stage_is_unchanged() -> None:
    def load(source: str) -> str:
        return source

    made = FunctionStage(load, name="loaded")

    assert type(made) is FunctionStage
    assert made.parameters == ("source",)
    with pytest.raises(TypeError, match="seed's form starts with the stage id"):
        FunctionStage(load, "loaded")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="seed's form starts with the stage id"):
        FunctionStage(load, retry_count=1)  # type: ignore[call-overload]


def test_initial_context_and_inputs_together_are_an_error() -> None:
    with pytest.raises(TypeError, match="not both"):
        seed_stages.pipeline().run({"x": 1}, initial_context={"x": 2})


def test_builder_context_needs_a_value() -> None:
    with pytest.raises(TypeError, match=r"context\('key', value\)"):
        PipelineBuilder("b").context("key")


def test_builder_context_key_value_and_keywords_mix() -> None:
    built = PipelineBuilder("b").context("a", 1).context(b=2).context("a", 3).build()

    assert built.context == {"a": 3, "b": 2}


def test_a_conditional_without_a_stage_is_a_clear_error() -> None:
    with pytest.raises(PipelineDefinitionError, match="the stage to run is missing"):
        ConditionalStage("gate", lambda ctx: True)  # type: ignore[call-overload]


def test_a_seed_function_must_take_the_context_alone() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"stage 'two': .* def two\(context\)"):
        FunctionStage("two", lambda a, b: a)
    with pytest.raises(PipelineDefinitionError, match="needs a callable, got 5"):
        FunctionStage("five", 5)  # type: ignore[call-overload]

    assert FunctionStage("defaults", lambda ctx, scale=2: scale).execute({}) == 2


def test_a_bad_retry_count_names_the_stage() -> None:
    with pytest.raises(PipelineDefinitionError, match="stage 'r': retry_count"):
        FunctionStage("r", lambda ctx: None, retry_count=-1)


def test_a_seed_subclass_retry_count_and_timeout_s() -> None:
    made = seed_stages.PlusTen("p", "Plus ten", ["doubled"], 2, 1.5)

    assert made.depends_on == ("doubled",)
    assert made.retry == Retry(3, 0.1, float("inf"))
    assert (made.timeout, made.timeout_s, made.display_name) == (1.5, 1.5, "Plus ten")


def test_the_seed_attributes_can_be_assigned() -> None:
    made = seed_stages.PlusTen("before")
    made.stage_id = "after"
    made.retry_count = 2
    made.timeout_s = 3.0

    assert (made.name, made.retry, made.timeout) == ("after", Retry(3, 0.1, float("inf")), 3.0)


# -- results ------------------------------------------------------------------------------


@pytest.fixture
def finished() -> PipelineResult:
    pipeline = Pipeline(fail_fast=False)
    pipeline.add_stage(FunctionStage("ok", lambda ctx: 1))
    pipeline.add_stage(FunctionStage("bad", lambda ctx: 1 / 0))
    pipeline.add_stage(
        ConditionalStage("never", lambda ctx: False, FunctionStage("n", lambda c: 0))
    )
    return pipeline.run(executor="sequential")


def test_int_and_name_keys_of_the_stages(finished: PipelineResult) -> None:
    stages = finished.stages

    assert [stages[i].name for i in range(len(stages))] == ["ok", "bad", "never"]
    assert stages[1] is stages["bad"]
    assert stages[-1].name == "never"
    assert 0 not in stages  # type: ignore[comparison-overlap]
    assert "ok" in stages
    assert list(stages) == ["ok", "bad", "never"]
    with pytest.raises(IndexError):
        stages[3]
    with pytest.raises(KeyError):
        stages["nope"]


def test_seed_result_aliases(finished: PipelineResult) -> None:
    assert finished.status is PipelineStatus.FAILED
    assert finished.successful_stages == ["ok"]
    assert finished.failed_stages == ["bad"]
    assert finished.pipeline_id == finished.name == "pipeline"
    assert finished.duration_ms == pytest.approx(finished.duration * 1000)
    assert [r.is_success for r in finished.stages.values()] == [True, False, False]
    assert finished.stages["never"].start_time is None


def test_a_result_built_from_a_dict_indexes_by_position() -> None:
    one = StageResult("one", StageStatus.SUCCESS, 1)
    result = PipelineResult("r", "p", PipelineStatus.SUCCESS, {"one": one}, 0.0, 1.0, 1.0)

    assert result.stages[0] is one
    assert result.successful_stages == ["one"]


# -- where flowkit is stricter than the seed ----------------------------------------------


def test_duplicate_ids_are_an_error() -> None:
    pipeline = Pipeline("dups").add_stage(FunctionStage("a", lambda ctx: 1))

    with pytest.raises(DuplicateStageError):
        pipeline.add_stage(FunctionStage("a", lambda ctx: 2))


def test_unknown_dependencies_and_cycles_are_errors() -> None:
    unknown = Pipeline("u").add_stage(FunctionStage("a", lambda ctx: 1, depends_on=["nope"]))
    cycle = (
        Pipeline("c")
        .add_stage(FunctionStage("a", lambda ctx: 1, depends_on=["b"]))
        .add_stage(FunctionStage("b", lambda ctx: 1, depends_on=["a"]))
    )

    with pytest.raises(UnknownDependencyError):
        unknown.run()
    with pytest.raises(CycleError):
        cycle.run()


def test_a_failing_parallel_child_fails_the_group() -> None:
    group = ParallelStage(
        "g", [FunctionStage("fine", lambda ctx: 1), FunctionStage("boom", lambda ctx: 1 / 0)]
    )
    result = Pipeline([group]).run(executor="sequential")

    assert result.failed_stages == ["g"]
    assert isinstance(result.stages[0].error, ZeroDivisionError)
    assert result.stages[0].children["fine"].output == 1
    with pytest.raises(ZeroDivisionError):
        group.execute({})


def test_the_seed_forms_are_exported() -> None:
    assert flowkit.FunctionStage is FunctionStage
