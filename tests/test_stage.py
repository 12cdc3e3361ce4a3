"""Stage kinds and the ``@stage`` decorator (DESIGN.md §2)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from flowkit import (
    ConditionalStage,
    FunctionStage,
    Pipeline,
    PipelineDefinitionError,
    Retry,
    Stage,
    StageContext,
    StageStatus,
    stage,
)


def _plain(x: int, label: str = "n") -> float:
    """Doc of plain."""
    return x / 2


class TestDecoratorForms:
    def test_bare_returns_function_stage_named_after_function(self) -> None:
        made = stage(_plain)

        assert isinstance(made, FunctionStage)
        assert made.name == "_plain"
        assert made.parameters == ("x", "label")

    def test_called_with_options(self) -> None:
        made = stage(
            name="half",
            depends_on=["other"],
            retries=2,
            backoff=0.5,
            max_backoff=3.0,
            jitter=True,
            retry_on=(KeyError, OSError),
            timeout=5,
            tags=["io", "slow"],
        )(_plain)

        assert isinstance(made, FunctionStage)
        assert (made.name, made.depends_on, made.timeout) == ("half", ("other",), 5)
        assert made.retry == Retry(
            attempts=3, backoff=0.5, max_backoff=3.0, jitter=True, on=(KeyError, OSError)
        )
        assert made.tags == frozenset({"io", "slow"})

    def test_called_without_options_equals_bare(self) -> None:
        made = stage()(_plain)

        assert isinstance(made, FunctionStage)
        assert (made.name, made.retry, made.timeout) == ("_plain", Retry(), None)

    def test_default_options(self) -> None:
        made = stage(_plain)

        assert made.depends_on == ()
        assert made.retry == Retry(attempts=1, backoff=0.0, max_backoff=60.0, jitter=False)
        assert made.retry.on == (Exception,)
        assert made.timeout is None
        assert (made.on_success, made.on_failure) == (None, None)
        assert made.tags == frozenset()

    @pytest.mark.parametrize("form", ["bare", "called", "conditional"])
    def test_stays_callable_like_the_function(self, form: str) -> None:
        decorate: Any = {
            "bare": stage,
            "called": stage(retries=1),
            "conditional": stage(when=lambda x: False),
        }[form]
        made = decorate(_plain)

        assert made(4) == 2.0
        assert made(x=5, label="y") == 2.5

    @pytest.mark.parametrize("form", ["bare", "called", "conditional"])
    def test_keeps_name_doc_and_wrapped(self, form: str) -> None:
        decorate: Any = {
            "bare": stage,
            "called": stage(name="renamed"),
            "conditional": stage(when=lambda: True),
        }[form]
        made = decorate(_plain)

        assert made.__name__ == "_plain"
        assert made.__doc__ == "Doc of plain."
        assert made.__wrapped__ is _plain
        assert made.__module__ == __name__

    def test_when_gives_conditional_stage(self) -> None:
        made = stage(when=lambda x: x > 0)(_plain)

        assert isinstance(made, ConditionalStage)
        assert isinstance(made, Stage)
        assert made.name == "_plain"

    def test_condition_parameters_are_stage_parameters(self) -> None:
        made = stage(when=lambda gate, x: gate)(_plain)

        assert made.parameters == ("x", "label", "gate")

    def test_called_stage_does_not_run_engine_or_emit_events(self) -> None:
        @stage(retries=3, timeout=1)
        def boom() -> None:
            raise ValueError("plain call")

        with capture_logs() as captured, pytest.raises(ValueError, match="plain call"):
            boom()
        assert captured == []


def _args(*values: int) -> int:
    return len(values)


def _kwargs(**values: int) -> int:
    return len(values)


def _one(x: int) -> int:
    return x


class TestDefinitionErrors:
    @pytest.mark.parametrize(
        ("fn", "options"),
        [
            pytest.param(_args, {}, id="*args"),
            pytest.param(_kwargs, {}, id="**kwargs"),
            pytest.param(_one, {"retries": -1}, id="negative retries"),
            pytest.param(_one, {"retries": 1.5}, id="non-int retries"),
            pytest.param(_one, {"timeout": 0}, id="zero timeout"),
            pytest.param(_one, {"timeout": -2.5}, id="negative timeout"),
            pytest.param(_one, {"map_over": "nope"}, id="map_over names no parameter"),
            pytest.param(_one, {"retry_on": int}, id="retry_on not an exception"),
            pytest.param(_one, {"retry_on": "ValueError"}, id="retry_on a string"),
            pytest.param(_one, {"retry_on": (ValueError, 3)}, id="retry_on tuple with junk"),
            pytest.param(_one, {"backoff": -1.0}, id="negative backoff"),
        ],
    )
    def test_raised_at_decoration_time(self, fn: Any, options: dict[str, Any]) -> None:
        with pytest.raises(PipelineDefinitionError) as info:
            stage(**options)(fn)

        assert isinstance(info.value, ValueError)
        assert fn.__name__ in str(info.value)

    @pytest.mark.parametrize("fn", [_args, _kwargs])
    def test_bare_form_raises_too(self, fn: Any) -> None:
        with pytest.raises(PipelineDefinitionError, match=fn.__name__):
            stage(fn)

    def test_conditional_form_raises_too(self) -> None:
        with pytest.raises(PipelineDefinitionError):
            stage(when=lambda: True, retries=-1)(_one)

    def test_function_stage_constructor_raises_too(self) -> None:
        with pytest.raises(PipelineDefinitionError):
            FunctionStage(_one, timeout=0)

    def test_message_names_the_offending_parameter(self) -> None:
        with pytest.raises(PipelineDefinitionError, match="values"):
            stage(_args)


class TestFunctionStage:
    def test_wraps_a_callable(self) -> None:
        made = FunctionStage(_plain, name="half")

        assert (made.name, made.parameters) == ("half", ("x", "label"))
        assert made(6) == 3.0

    def test_plain_callable_in_pipeline_is_wrapped(self) -> None:
        pipeline = Pipeline([_plain])

        assert isinstance(pipeline.stages["_plain"], FunctionStage)

    def test_parameters_is_a_property_in_signature_order(self) -> None:
        def fn(c: int, a: int, b: int = 0) -> int:
            return a + b + c

        assert FunctionStage(fn).parameters == ("c", "a", "b")

    def test_tags_accept_any_iterable_and_are_frozenset_of_str(self) -> None:
        made = stage(tags=("a", "b", "a"))(_one)

        assert made.tags == frozenset({"a", "b"})

    def test_stage_is_abstract(self) -> None:
        with pytest.raises(TypeError):
            Stage(name="x")  # type: ignore[abstract]


class Doubler(Stage):
    """A custom stage kind: doubles the output of the stage it is told to read."""

    def __init__(self, name: str, source: str) -> None:
        super().__init__(name=name)
        self.source = source

    @property
    def parameters(self) -> tuple[str, ...]:
        return (self.source,)

    def execute(self, kwargs: dict[str, Any]) -> object:
        return 2 * kwargs[self.source]


class TestCustomStage:
    def test_subclass_runs_and_its_parameters_are_dependencies(self, executor: str) -> None:
        @stage
        def number(seed: int) -> int:
            return seed + 1

        pipeline = Pipeline([Doubler("doubled", "number"), number])
        result = pipeline.run({"seed": 20}, executor=executor)

        assert pipeline.dependencies("doubled") == ("number",)
        assert result.outputs == {"number": 21, "doubled": 42}

    def test_base_fields_have_defaults(self) -> None:
        custom = Doubler("d", "x")

        assert (custom.depends_on, custom.retry, custom.timeout) == ((), Retry(), None)
        assert (custom.on_success, custom.on_failure, custom.tags) == (None, None, frozenset())


class TestStageContext:
    def test_seed_style_function_stage_receives_context(self, executor: str) -> None:
        seen: list[object] = []

        def load(context: StageContext) -> str:
            seen.append(context)
            return str(context["source"])

        result = Pipeline([FunctionStage(load)], name="ctx").run(
            {"source": "data.csv"}, executor=executor
        )

        assert result["load"] == "data.csv"
        assert len(seen) == 1
        assert isinstance(seen[0], StageContext)
        assert isinstance(seen[0], Mapping)

    def test_context_is_not_a_pipeline_input(self) -> None:
        def load(context: StageContext) -> int:
            return 1

        pipeline = Pipeline([load])

        assert "context" not in pipeline.inputs
        pipeline.validate({})  # nothing required

    def test_holds_inputs_and_dependency_outputs_only(self, executor: str) -> None:
        seen: dict[str, Any] = {}

        @stage
        def upstream(seed: int) -> int:
            return seed * 10

        @stage
        def unrelated() -> str:
            return "not a dependency"

        @stage(depends_on=["unrelated"])
        def ordered() -> str:
            return "ordering only"

        @stage(depends_on=["ordered"])
        def consumer(upstream: int, context: StageContext) -> int:
            seen.update(context)
            seen["_len"] = len(context)
            return upstream

        pipeline = Pipeline([upstream, unrelated, ordered, consumer])
        result = pipeline.run({"seed": 4, "extra": "visible"}, executor=executor)

        assert result.ok
        assert seen == {
            "seed": 4,
            "extra": "visible",
            "upstream": 40,
            "ordered": "ordering only",
            "_len": 4,
        }

    def test_attributes(self, executor: str) -> None:
        seen: list[tuple[str, str, str, int]] = []

        @stage
        def probe(context: StageContext) -> None:
            seen.append((context.run_id, context.pipeline, context.stage, context.attempt))

        result = Pipeline([probe], name="facts").run(executor=executor)

        assert seen == [(result.run_id, "facts", "probe", 1)]

    def test_attempt_is_one_based_and_counts_retries(self, executor: str) -> None:
        attempts: list[int] = []

        @stage(retries=2)
        def flaky(context: StageContext) -> int:
            attempts.append(context.attempt)
            if context.attempt < 3:
                raise OSError("not yet")
            return context.attempt

        result = Pipeline([flaky]).run(executor=executor)

        assert attempts == [1, 2, 3]
        assert result["flaky"] == 3

    def test_is_read_only(self, executor: str) -> None:
        errors: list[BaseException] = []

        @stage
        def writer(context: Any) -> None:
            try:
                context["source"] = "changed"
            except TypeError as error:
                errors.append(error)

        Pipeline([writer]).run({"source": "x"}, executor=executor)

        assert len(errors) == 1
        assert not hasattr(StageContext, "__setitem__")

    def test_log_is_bound_to_run_pipeline_and_stage(self, executor: str) -> None:
        @stage
        def chatty(context: StageContext) -> None:
            context.log.info("user.event", rows=3)

        with capture_logs() as captured:
            result = Pipeline([chatty], name="logs").run(executor=executor)

        mine = [e for e in captured if e["event"] == "user.event"]
        assert len(mine) == 1
        assert mine[0]["run_id"] == result.run_id
        assert mine[0]["pipeline"] == "logs"
        assert mine[0]["stage"] == "chatty"
        assert mine[0]["rows"] == 3

    def test_a_stage_cannot_be_named_context(self) -> None:
        """``context`` is reserved: a stage of that name could never be injected, so the
        definition is rejected (when decorated or, at the latest, when validated)."""

        def build() -> None:
            @stage
            def context() -> int:
                return 1

            @stage
            def user(context: int) -> int:
                return context

            Pipeline([context, user]).validate()

        with pytest.raises(PipelineDefinitionError, match="context"):
            build()

    def test_context_in_worker_thread_is_for_that_stage(self) -> None:
        barrier = threading.Barrier(2, timeout=10)
        seen: dict[str, str] = {}

        def make(name: str) -> FunctionStage[..., None]:
            def fn(context: StageContext) -> None:
                barrier.wait()  # both stages hold their contexts at the same time
                seen[name] = context.stage

            return FunctionStage(fn, name=name)

        result = Pipeline([make("one"), make("two")]).run(executor="threads", max_workers=2)

        assert result.ok
        assert seen == {"one": "one", "two": "two"}


class TestConditionalStage:
    def test_constructor_wraps_inner_stage(self, executor: str) -> None:
        inner = FunctionStage(_one)
        conditional = ConditionalStage(inner, lambda x: x > 0)

        positive = Pipeline([conditional]).run({"x": 3}, executor=executor)
        negative = Pipeline([conditional]).run({"x": -3}, executor=executor)

        assert conditional.name == "_one"
        assert positive["_one"] == 3
        assert negative.stages["_one"].status is StageStatus.SKIPPED


def _annotated(a: int, b: str = "x", *, c: float = 1.0) -> str:
    """A docstring."""
    return f"{a}{b}{c}"


async def _awaited(a: int) -> int:
    return a


def _bare(a, b):  # type: ignore[no-untyped-def]  # no annotations at all
    return a


@pytest.mark.parametrize("fn", [_annotated, _awaited, _bare])
def test_the_fast_constructor_of_a_plain_function_sets_what_the_generic_one_does(fn: Any) -> None:
    fast, generic = FunctionStage.of(fn), FunctionStage(fn)

    assert type(fast) is FunctionStage
    assert vars(fast) == vars(generic)  # every field, private and identity attributes included


def test_the_fast_constructor_refuses_what_the_generic_one_refuses() -> None:
    def context() -> None: ...

    for make in (FunctionStage.of, FunctionStage):
        with pytest.raises(PipelineDefinitionError, match="reserved"):
            make(context)
        with pytest.raises(PipelineDefinitionError, match="no usable name"):
            make(lambda: 1)
