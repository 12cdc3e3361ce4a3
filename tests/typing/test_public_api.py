"""Static types of the public API: checked by ``mypy --strict tests/typing`` and run by pytest.

``assert_type`` is a no-op at run time, so under pytest these tests check the runtime side
(the objects really are what the types say) while mypy checks the declared types.

mypy keeps parameter *names* in a ``ParamSpec`` (``FunctionStage[[Arg(int, 'count'), ...]]``),
which ``assert_type`` cannot spell; so the stage's own type is checked with an annotated
assignment to ``FunctionStage[[int, str], float]`` plus assignments and calls that must be
rejected. Those carry ``# type: ignore[...]``: under ``--strict`` (``warn_unused_ignores``) an
ignore that is not needed is an error, so they fail if the decorator lost the types (for
example by returning ``FunctionStage[..., Any]``). They sit under ``TYPE_CHECKING`` so they
never run. Return types are checked with ``assert_type`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_type

import pytest

from flowkit import (
    ConditionalStage,
    FunctionStage,
    Pipeline,
    PipelineDefinitionError,
    PipelineResult,
    StageResult,
    StageStatus,
    stage,
)


def score(count: int, label: str) -> float:
    return count / len(label)


def test_bare_decorator_keeps_signature_and_return_type() -> None:
    made = stage(score)

    typed: FunctionStage[[int, str], float] = made
    assert_type(made(3, "abc"), float)
    if TYPE_CHECKING:
        _wrong_params: FunctionStage[[str], float] = made  # type: ignore[assignment]
        _wrong_return: FunctionStage[[int, str], str] = made  # type: ignore[assignment]
        made("3", "abc")  # type: ignore[arg-type]
        made(3)  # type: ignore[call-arg]
    assert isinstance(typed, FunctionStage)


def test_called_decorator_keeps_signature_and_return_type() -> None:
    made = stage(retries=2, timeout=1.5, name="scored")(score)

    typed: FunctionStage[[int, str], float] = made
    assert_type(made(3, "abc"), float)
    if TYPE_CHECKING:
        _wrong_params: FunctionStage[[str], float] = made  # type: ignore[assignment]
        _wrong_return: FunctionStage[[int, str], str] = made  # type: ignore[assignment]
        made(label="abc")  # type: ignore[call-arg]
    assert isinstance(typed, FunctionStage)
    assert typed.name == "scored"


def test_empty_call_keeps_signature_and_return_type() -> None:
    made = stage()(score)

    typed: FunctionStage[[int, str], float] = made
    if TYPE_CHECKING:
        _wrong_params: FunctionStage[[str], float] = made  # type: ignore[assignment]
    assert isinstance(typed, FunctionStage)


def test_calling_a_stage_returns_the_function_type() -> None:
    made = stage(score)

    value = made(3, "abc")
    by_keyword = made(count=2, label="ab")

    assert_type(value, float)
    assert_type(by_keyword, float)
    assert (value, by_keyword) == (1.0, 1.0)


def test_when_gives_a_conditional_stage() -> None:
    made = stage(when=lambda count: count > 0)(score)

    typed: ConditionalStage[[int, str], float] = made
    assert_type(made(4, "ab"), float)
    if TYPE_CHECKING:
        _as_function: FunctionStage[[int, str], float] = made  # type: ignore[assignment]
        _wrong_params: ConditionalStage[[str], float] = made  # type: ignore[assignment]
        made("4", "ab")  # type: ignore[arg-type]
    assert isinstance(typed, ConditionalStage)


@stage
def decorated_at_module_level(rows: list[int]) -> int:
    return sum(rows)


def test_module_level_decorated_function() -> None:
    typed: FunctionStage[[list[int]], int] = decorated_at_module_level

    assert_type(decorated_at_module_level([1, 2]), int)
    if TYPE_CHECKING:
        decorated_at_module_level(["1"])  # type: ignore[list-item]
    assert typed([1, 2]) == 3


def test_pipeline_stage_decorator_keeps_types() -> None:
    pipeline = Pipeline(name="typed")

    @pipeline.stage
    def first(x: int) -> str:
        return str(x)

    @pipeline.stage(retries=1)
    def second(first: str) -> bytes:
        return first.encode()

    typed_first: FunctionStage[[int], str] = first
    typed_second: FunctionStage[[str], bytes] = second
    assert_type(first(1), str)
    assert_type(second("a"), bytes)
    result = pipeline.run({"x": 5}, executor="sequential")
    assert_type(result, PipelineResult)
    assert result["second"] == b"5"
    assert (typed_first.name, typed_second.name) == ("first", "second")


def test_result_types() -> None:
    result = Pipeline([decorated_at_module_level]).run({"rows": [1]}, executor="sequential")

    stage_result = result.stages["decorated_at_module_level"]
    assert_type(stage_result, StageResult)
    assert_type(stage_result.status, StageStatus)
    assert_type(result.ok, bool)
    assert stage_result.status is StageStatus.SUCCESS


def test_executor_is_a_name_or_an_executor_object() -> None:
    from flowkit.executors import Executor

    pipeline = Pipeline([decorated_at_module_level])
    for name in ("threads", "sequential", "async"):
        assert pipeline.run({"rows": [1]}, executor=name).ok
    with pytest.raises(PipelineDefinitionError, match="did you mean 'threads'"):
        pipeline.run({"rows": [1]}, executor="thread")  # type: ignore[arg-type]  # not a name
    wanted: Executor | None = None
    assert pipeline.run({"rows": [1]}, executor=wanted).ok
