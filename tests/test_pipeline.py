"""``Pipeline`` and ``PipelineBuilder``: construction, inputs, validation, targets, overrides
and parallel groups (DESIGN.md §2, §10)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import Calls

from flowkit import (
    FunctionStage,
    MissingInputError,
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineDefinitionError,
    PipelineStatus,
    StageContext,
    StageStatus,
    stage,
)


def chain(calls: Calls) -> Pipeline:
    """extract(url) -> transform(extract, factor=2) -> load(transform, table)."""

    @stage
    def extract(url: str) -> list[int]:
        calls.add("extract")
        return [len(url), 1]

    @stage
    def transform(extract: list[int], factor: int = 2) -> list[int]:
        calls.add("transform")
        return [v * factor for v in extract]

    @stage
    def load(transform: list[int], table: str) -> str:
        calls.add("load")
        return f"{table}:{sum(transform)}"

    return Pipeline([extract, transform, load], name="etl")


class TestConstruction:
    def test_defaults(self) -> None:
        pipeline = Pipeline()

        assert (pipeline.name, pipeline.fail_fast) == ("pipeline", True)
        assert dict(pipeline.stages) == {}
        assert pipeline.order == ()

    def test_empty_pipeline_runs(self, executor: str) -> None:
        result = Pipeline(name="empty").run(executor=executor)

        assert result.status is PipelineStatus.SUCCESS
        assert dict(result.stages) == {}

    def test_plain_callables_are_wrapped(self, executor: str) -> None:
        def one() -> int:
            return 1

        def two(one: int) -> int:
            return one + 1

        result = Pipeline([one, two]).run(executor=executor)

        assert result.outputs == {"one": 1, "two": 2}


class TestInputs:
    def test_run_inputs(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run({"url": "abc", "table": "t"}, executor=executor)

        assert result["load"] == "t:8"

    def test_default_is_used_when_not_given(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run({"url": "abc", "table": "t", "factor": 10}, executor=executor)

        assert result["transform"] == [30, 10]

    def test_context_gives_defaults_and_run_inputs_win(self, executor: str, calls: Calls) -> None:
        base = Pipeline(chain(calls).stages.values(), context={"url": "abcd", "table": "ctx"})

        assert base.run(executor=executor)["load"] == "ctx:10"
        assert base.run({"table": "run"}, executor=executor)["load"] == "run:10"

    def test_builder_context_and_run_inputs(self, executor: str, calls: Calls) -> None:
        builder = PipelineBuilder("etl")
        for s in chain(calls).stages.values():
            builder.stage(s)
        pipeline = builder.context(url="xy", table="ctx").build()

        assert pipeline.run(executor=executor)["load"] == "ctx:6"
        assert pipeline.run({"url": "xyz"}, executor=executor)["load"] == "ctx:8"

    def test_unused_inputs_are_accepted_and_visible_in_context(self, executor: str) -> None:
        seen: dict[str, Any] = {}

        @stage
        def peek(context: StageContext) -> None:
            seen.update(context)

        result = Pipeline([peek]).run({"nobody_takes_this": 7}, executor=executor)

        assert result.ok
        assert seen == {"nobody_takes_this": 7}

    def test_missing_inputs_raise_before_any_stage(self, executor: str, calls: Calls) -> None:
        with pytest.raises(MissingInputError) as info:
            chain(calls).run(executor=executor)

        assert info.value.names == ["table", "url"]
        assert len(calls) == 0

    def test_input_satisfied_by_default_of_every_taker_is_optional(self, executor: str) -> None:
        @stage
        def a(limit: int = 5) -> int:
            return limit

        result = Pipeline([a]).run(executor=executor)

        assert result["a"] == 5


class TestValidate:
    def test_returns_none_and_runs_nothing(self, calls: Calls) -> None:
        pipeline = chain(calls)

        assert pipeline.validate() is None
        assert pipeline.validate({"url": "u", "table": "t"}) is None
        assert len(calls) == 0

    def test_without_inputs_does_not_check_inputs(self, calls: Calls) -> None:
        chain(calls).validate()

    def test_with_inputs_checks_required_ones(self, calls: Calls) -> None:
        with pytest.raises(MissingInputError) as info:
            chain(calls).validate({"url": "u"})

        assert info.value.names == ["table"]
        assert len(calls) == 0

    def test_context_counts_as_inputs(self, calls: Calls) -> None:
        pipeline = Pipeline(chain(calls).stages.values(), context={"table": "t"})

        pipeline.validate({"url": "u"})

    def test_definition_errors(self) -> None:
        @stage(depends_on=["nothing"])
        def lonely() -> None:
            return None

        with pytest.raises(PipelineDefinitionError):
            Pipeline([lonely]).validate()


class TestExecutorChoice:
    def test_default_is_threads(self) -> None:
        names: list[str] = []

        @stage
        def where() -> None:
            names.append(threading.current_thread().name)

        Pipeline([where]).run()

        assert names != [threading.main_thread().name]

    def test_sequential_runs_in_calling_thread(self) -> None:
        names: list[str] = []

        @stage
        def where() -> None:
            names.append(threading.current_thread().name)

        Pipeline([where]).run(executor="sequential")

        assert names == [threading.current_thread().name]

    def test_unknown_executor_name(self, calls: Calls) -> None:
        with pytest.raises(PipelineDefinitionError, match="did you mean 'threads'"):
            chain(calls).run({"url": "u", "table": "t"}, executor="thread")
        assert len(calls) == 0

    @pytest.mark.parametrize("workers", [0, -1])
    def test_bad_max_workers(self, workers: int, calls: Calls) -> None:
        with pytest.raises((PipelineDefinitionError, ValueError)):
            chain(calls).run({"url": "u", "table": "t"}, max_workers=workers)
        assert len(calls) == 0


class TestTargets:
    def test_only_needed_stages_run_and_appear(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run({"url": "abc"}, targets=["transform"], executor=executor)

        assert list(result.stages) == ["extract", "transform"]
        assert result.outputs == {"extract": [3, 1], "transform": [6, 2]}
        assert calls.names == ["extract", "transform"]
        assert result.ok

    def test_single_name_string(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run({"url": "abc"}, targets="extract", executor=executor)

        assert list(result.stages) == ["extract"]

    def test_inputs_of_unneeded_stages_are_not_required(self, calls: Calls) -> None:
        # `table` is only taken by `load`, which the target does not need
        result = chain(calls).run({"url": "abc"}, targets=["extract"])

        assert result.ok

    def test_several_targets(self, executor: str) -> None:
        def a() -> int:
            return 1

        def b(a: int) -> int:
            return a + 1

        def c(a: int) -> int:
            return a + 2

        def d(b: int, c: int) -> int:
            return b + c

        result = Pipeline([a, b, c, d]).run(targets=["c", "b"], executor=executor)

        assert list(result.stages) == ["a", "b", "c"]

    def test_unknown_target_did_you_mean(self, calls: Calls) -> None:
        with pytest.raises(PipelineDefinitionError, match="did you mean 'transform'") as info:
            chain(calls).run({"url": "u", "table": "t"}, targets=["transfrom"])

        assert "transfrom" in str(info.value)
        assert len(calls) == 0


class TestOverrides:
    def test_overridden_stage_and_its_upstream_do_not_run(
        self, executor: str, calls: Calls
    ) -> None:
        result = chain(calls).run(
            {"table": "t"}, overrides={"transform": [100, 1]}, executor=executor
        )

        assert calls.names == ["load"]
        assert "extract" not in result.stages
        assert result["load"] == "t:101"

    def test_overridden_result(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run(
            {"table": "t"}, overrides={"transform": [100, 1]}, executor=executor
        )

        overridden = result.stages["transform"]
        assert overridden.status is StageStatus.SUCCESS
        assert overridden.attempts == 0
        assert overridden.output == [100, 1]
        assert result.outputs["transform"] == [100, 1]
        assert result.succeeded == 2

    def test_inputs_only_upstream_needs_are_not_required(self, calls: Calls) -> None:
        # `url` is only taken by `extract`, which the override makes unnecessary
        result = chain(calls).run({"table": "t"}, overrides={"transform": [1]})

        assert result.ok

    def test_upstream_needed_by_another_stage_still_runs(self, executor: str) -> None:
        ran: list[str] = []

        @stage
        def base() -> int:
            ran.append("base")
            return 1

        @stage
        def middle(base: int) -> int:
            ran.append("middle")
            return base

        @stage
        def side(base: int) -> int:
            ran.append("side")
            return base + 10

        @stage
        def end(middle: int, side: int) -> int:
            return middle + side

        result = Pipeline([base, middle, side, end]).run(overrides={"middle": 5}, executor=executor)

        assert sorted(ran) == ["base", "side"]
        assert result["end"] == 16

    def test_override_of_a_root_stage(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run({"table": "t"}, overrides={"extract": [7]}, executor=executor)

        assert calls.names == ["transform", "load"]
        assert result["load"] == "t:14"

    def test_unknown_override_did_you_mean(self, calls: Calls) -> None:
        with pytest.raises(PipelineDefinitionError, match="did you mean 'extract'"):
            chain(calls).run({"url": "u", "table": "t"}, overrides={"extrat": []})
        assert len(calls) == 0

    def test_targets_and_overrides_together(self, executor: str, calls: Calls) -> None:
        result = chain(calls).run(
            targets=["transform"], overrides={"extract": [1, 2]}, executor=executor
        )

        assert list(result.stages) == ["extract", "transform"]
        assert calls.names == ["transform"]
        assert result["transform"] == [2, 4]


class TestBuilder:
    def test_every_method_returns_the_builder(self) -> None:
        builder = PipelineBuilder("fluent")

        def a() -> int:
            return 1

        def b() -> int:
            return 2

        assert builder.stage(a) is builder
        assert builder.parallel("group", b) is builder
        assert builder.context(x=1) is builder
        assert builder.fail_fast(False) is builder
        assert isinstance(builder.build(), Pipeline)

    def test_build(self, executor: str) -> None:
        def numbers(n: int) -> list[int]:
            return list(range(n))

        def total(numbers: list[int]) -> int:
            return sum(numbers)

        pipeline = (
            PipelineBuilder("built")
            .stage(numbers)
            .stage(total, retries=2, timeout=5)
            .context(n=5)
            .fail_fast(False)
            .build()
        )

        assert (pipeline.name, pipeline.fail_fast) == ("built", False)
        assert pipeline.stages["total"].retry.attempts == 3
        assert pipeline.stages["total"].timeout == 5
        assert pipeline.run(executor=executor)["total"] == 10

    def test_stage_with_when(self, executor: str) -> None:
        def maybe(flag: bool) -> str:
            return "ran"

        pipeline = PipelineBuilder().stage(maybe, when=lambda flag: flag).build()

        assert pipeline.run({"flag": True}, executor=executor)["maybe"] == "ran"
        skipped = pipeline.run({"flag": False}, executor=executor)
        assert skipped.stages["maybe"].status is StageStatus.SKIPPED

    def test_stage_objects_accepted(self) -> None:
        made = FunctionStage(lambda: 1, name="one")

        pipeline = PipelineBuilder().stage(made).build()

        assert pipeline.stages["one"] is made

    def test_fail_fast_default_true(self) -> None:
        assert PipelineBuilder().build().fail_fast is True


class TestParallelStage:
    def test_output_and_children(self, executor: str) -> None:
        def a(x: int) -> int:
            return x + 1

        def b(x: int) -> int:
            return x * 10

        @stage
        def after(group: dict[str, int]) -> int:
            return group["a"] + group["b"]

        pipeline = Pipeline([ParallelStage("group", [a, b]), after])
        result = pipeline.run({"x": 2}, executor=executor)

        assert result["group"] == {"a": 3, "b": 20}
        assert result["after"] == 23
        children = result.stages["group"].children
        assert set(children) == {"a", "b"}
        assert all(c.status is StageStatus.SUCCESS for c in children.values())
        assert result.stages["after"].children == {}

    def test_children_run_concurrently(self) -> None:
        barrier = threading.Barrier(2, timeout=10)

        def left() -> str:
            barrier.wait()
            return "l"

        def right() -> str:
            barrier.wait()
            return "r"

        result = Pipeline([ParallelStage("both", [left, right])]).run(executor="threads")

        assert result["both"] == {"left": "l", "right": "r"}

    def test_fails_if_a_child_fails_after_all_finish(self, executor: str) -> None:
        finished: list[str] = []
        bad_failed = threading.Event()

        def bad() -> None:
            bad_failed.set()
            raise ValueError("child broke")

        def good() -> str:
            bad_failed.wait(10)  # a sibling has failed already: this child still finishes
            finished.append("good")
            return "ok"

        result = Pipeline([ParallelStage("group", [bad, good])], fail_fast=False).run(
            executor=executor
        )

        group = result.stages["group"]
        assert group.status is StageStatus.FAILED
        assert isinstance(group.error, ValueError)
        assert finished == ["good"]
        assert group.children["good"].status is StageStatus.SUCCESS
        assert group.children["bad"].status is StageStatus.FAILED

    def test_children_keep_their_retries(self, executor: str) -> None:
        attempts: list[int] = []

        @stage(retries=2)
        def flaky() -> int:
            attempts.append(1)
            if len(attempts) < 3:
                raise OSError("again")
            return len(attempts)

        result = Pipeline([ParallelStage("group", [flaky])]).run(executor=executor)

        assert result["group"] == {"flaky": 3}
        assert result.stages["group"].children["flaky"].attempts == 3

    def test_duplicate_child_names_rejected(self) -> None:
        with pytest.raises(PipelineDefinitionError):
            ParallelStage("g", [FunctionStage(lambda: 1, name="x")] * 2)
