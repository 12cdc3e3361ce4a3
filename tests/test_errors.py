"""The error hierarchy and validation before any stage runs (DESIGN.md §8, §10)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from conftest import Calls

import flowkit
import flowkit.errors
from flowkit import (
    CycleError,
    DuplicateStageError,
    FlowkitError,
    MissingInputError,
    Pipeline,
    PipelineDefinitionError,
    PipelineFailedError,
    StageTimeoutError,
    UnknownDependencyError,
    stage,
)


class TestHierarchy:
    @pytest.mark.parametrize(
        ("error", "bases"),
        [
            (FlowkitError, (Exception,)),
            (PipelineDefinitionError, (FlowkitError, ValueError)),
            (CycleError, (PipelineDefinitionError,)),
            (DuplicateStageError, (PipelineDefinitionError,)),
            (UnknownDependencyError, (PipelineDefinitionError,)),
            (MissingInputError, (FlowkitError, ValueError)),
            (StageTimeoutError, (FlowkitError, TimeoutError)),
            (PipelineFailedError, (FlowkitError, RuntimeError)),
        ],
    )
    def test_subclasses(self, error: type[Exception], bases: tuple[type, ...]) -> None:
        for base in bases:
            assert issubclass(error, base)

    @pytest.mark.parametrize(
        "name",
        [
            "FlowkitError",
            "PipelineDefinitionError",
            "CycleError",
            "DuplicateStageError",
            "UnknownDependencyError",
            "MissingInputError",
            "StageTimeoutError",
            "PipelineFailedError",
        ],
    )
    def test_defined_in_errors_and_reexported(self, name: str) -> None:
        assert getattr(flowkit, name) is getattr(flowkit.errors, name)
        assert name in flowkit.__all__

    def test_missing_input_is_not_a_definition_error(self) -> None:
        assert not issubclass(MissingInputError, PipelineDefinitionError)


class TestValidationRunsNothing:
    """Every definition and input error is raised by ``run`` before any stage starts."""

    def test_cycle(self, calls: Calls, executor: str) -> None:
        @stage
        def start() -> int:
            calls.add("start")
            return 1

        @stage
        def a(start: int, b: int) -> int:
            calls.add("a")
            return b

        @stage
        def b(a: int) -> int:
            calls.add("b")
            return a

        with pytest.raises(CycleError) as info:
            Pipeline([start, a, b]).run(executor=executor)

        assert info.value.cycle in (["a", "b", "a"], ["b", "a", "b"])
        assert len(calls) == 0

    def test_unknown_dependency(self, calls: Calls, executor: str) -> None:
        @stage
        def extract() -> int:
            calls.add("extract")
            return 1

        @stage(depends_on=["extrct"])
        def load() -> None:
            calls.add("load")

        with pytest.raises(UnknownDependencyError) as info:
            Pipeline([extract, load]).run(executor=executor)

        error = info.value
        assert (error.stage, error.name) == ("load", "extrct")
        assert "did you mean 'extract'?" in str(error)
        assert "load" in str(error)
        assert len(calls) == 0

    def test_unknown_dependency_without_close_match(self) -> None:
        @stage(depends_on=["zzzzzz"])
        def load() -> None:
            return None

        with pytest.raises(UnknownDependencyError) as info:
            Pipeline([load]).validate()

        assert "did you mean" not in str(info.value)
        assert "zzzzzz" in str(info.value)

    def test_missing_inputs_all_in_one_error_sorted(self, calls: Calls, executor: str) -> None:
        @stage
        def first(zeta: int, alpha: int) -> int:
            calls.add("first")
            return zeta + alpha

        @stage
        def second(first: int, mid: str, optional: int = 1) -> str:
            calls.add("second")
            return mid

        with pytest.raises(MissingInputError) as info:
            Pipeline([first, second]).run({"unused": 1}, executor=executor)

        error = info.value
        assert error.names == ["alpha", "mid", "zeta"]
        message = str(error)
        for name in ("alpha", "mid", "zeta", "first", "second"):
            assert name in message
        assert "optional" not in error.names
        assert len(calls) == 0

    def test_missing_input_suggests_misspelt_stage(self) -> None:
        @stage
        def extract() -> int:
            return 1

        @stage
        def load(extrat: int) -> int:
            return extrat

        with pytest.raises(MissingInputError, match="did you mean 'extract'"):
            Pipeline([extract, load]).run()

    def test_type_mismatch_names_both_stages_and_types(self, calls: Calls, executor: str) -> None:
        @stage
        def produce() -> str:
            calls.add("produce")
            return "text"

        @stage
        def consume(produce: int) -> int:
            calls.add("consume")
            return produce

        with pytest.raises(PipelineDefinitionError) as info:
            Pipeline([produce, consume]).run(executor=executor)

        message = str(info.value)
        for part in ("produce", "consume", "str", "int"):
            assert part in message
        assert len(calls) == 0

    @pytest.mark.parametrize(
        ("produced", "wanted"),
        [(int, float), (bool, int), (int, object), (list, list)],
    )
    def test_compatible_types_pass(self, produced: type, wanted: type) -> None:
        def produce() -> Any:
            return produced()

        produce.__annotations__ = {"return": produced}

        def consume(produce: Any) -> None:
            return None

        consume.__annotations__ = {"produce": wanted, "return": None}

        Pipeline([produce, consume]).validate()

    def test_unannotated_side_passes(self) -> None:
        def produce():  # type: ignore[no-untyped-def]
            return "x"

        def consume(produce: int) -> int:
            return produce

        Pipeline([produce, consume]).validate()

    def test_unknown_target(self, calls: Calls, executor: str) -> None:
        @stage
        def extract() -> int:
            calls.add("extract")
            return 1

        with pytest.raises(PipelineDefinitionError, match="did you mean 'extract'") as info:
            Pipeline([extract]).run(targets=["extrakt"], executor=executor)

        assert "extrakt" in str(info.value)
        assert len(calls) == 0

    def test_unknown_override(self, calls: Calls, executor: str) -> None:
        @stage
        def extract() -> int:
            calls.add("extract")
            return 1

        with pytest.raises(PipelineDefinitionError, match="did you mean 'extract'"):
            Pipeline([extract]).run(overrides={"exract": 2}, executor=executor)

        assert len(calls) == 0

    def test_validate_raises_the_same_errors(self) -> None:
        @stage(depends_on=["nowhere"])
        def lost() -> None:
            return None

        with pytest.raises(UnknownDependencyError):
            Pipeline([lost]).validate()


class TestMessages:
    def test_cycle_error(self) -> None:
        error = CycleError(["a", "b", "c", "a"])

        assert error.cycle == ["a", "b", "c", "a"]
        assert str(error).startswith("cycle: a -> b -> c -> a")

    def test_duplicate_stage_error(self) -> None:
        error = DuplicateStageError("load")

        assert error.name == "load"
        assert "load" in str(error)

    def test_stage_timeout_error(self) -> None:
        error = StageTimeoutError("fetch", 2.5)

        assert (error.stage, error.timeout) == ("fetch", 2.5)
        assert "fetch" in str(error)
        assert "2.5" in str(error)

    def test_stage_timeout_error_pickles(self) -> None:
        # our own bytes, just made: nothing untrusted is unpickled
        error = pickle.loads(pickle.dumps(StageTimeoutError("fetch", 2.5)))  # noqa: S301

        assert (error.stage, error.timeout) == ("fetch", 2.5)
