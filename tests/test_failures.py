"""Failures you can debug (DESIGN §11.2) and the definition checks of §11.1: tracebacks on
``StageResult.error`` on every executor, ``exception`` on failure events, inputs that name a
stage, conditions that take ``context``, and inputs that look like a stage's name."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
from pipelines import crash

from flowkit import Pipeline, PipelineDefinitionError, StageContext, StageStatus, stage
from flowkit._lint import lookalike_inputs, one_edit_apart, warnings_for
from flowkit._traceback import RemoteTraceback, format_error

CRASH_FILE = Path(crash.__file__)


def line_of(text: str) -> int:
    """The line number of the line of ``crash.py`` that holds ``text``."""
    lines = CRASH_FILE.read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def stage_frames() -> list[str]:
    """The traceback lines that every executor must show: the stage's own call and the
    helper's failing line, each with its file and line number."""
    return [
        f'File "{CRASH_FILE}", line {line_of("return lookup(orders")}, in clean_orders',
        f'File "{CRASH_FILE}", line {line_of("return rows[key]")}, in lookup',
    ]


@pytest.mark.parametrize("executor", ["sequential", "threads", "async", "processes"])
def test_the_error_s_traceback_shows_the_stage_s_own_file_and_line(executor: str) -> None:
    result = crash.pipeline.run(executor=executor)
    error = result.stages["clean_orders"].error
    text = "".join(traceback.format_exception(error))

    assert isinstance(error, KeyError)
    assert [frame in text for frame in stage_frames()] == [True, True], text
    assert text.rstrip().endswith("KeyError: 'b'")


def test_local_executors_keep_the_traceback_object() -> None:
    for executor in ("sequential", "threads", "async"):
        error = crash.pipeline.run(executor=executor).stages["clean_orders"].error

        assert error is not None
        names = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
        assert names[-2:] == ["clean_orders", "lookup"], executor


def test_from_processes_the_remote_traceback_is_the_cause() -> None:
    error = crash.pipeline.run(executor="processes").stages["clean_orders"].error

    assert error is not None
    assert isinstance(error.__cause__, RemoteTraceback)
    assert [frame in error.__cause__.text for frame in stage_frames()] == [True, True]


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_failed_and_retrying_events_carry_the_formatted_traceback(
    events: list[dict[str, Any]], executor: str
) -> None:
    crash.pipeline.run(executor=executor)
    failures = [e for e in events if e["event"] in ("stage.retrying", "stage.failed")]

    assert [e["event"] for e in failures] == ["stage.retrying"] * 2 + ["stage.failed"]
    for event in failures:
        assert "Traceback (most recent call last):" in event["exception"]
        assert [frame in event["exception"] for frame in stage_frames()] == [True, True]
        assert event["exception"].rstrip().endswith("KeyError: 'b'")


def test_successful_events_carry_no_exception(events: list[dict[str, Any]]) -> None:
    Pipeline([crash.orders]).run()

    assert [e for e in events if "exception" in e] == []


def test_format_error_shows_no_local_variable_values() -> None:
    secret = "local-value-7f3a"  # noqa: S105 - the point of the test

    def boom(value: str) -> None:
        raise ValueError("no")

    try:
        boom(secret)
    except ValueError as error:
        text = format_error(error)
    assert "boom(secret)" in text  # source lines, which name variables...
    assert secret not in text  # ...but never their values


class TestInputsThatNameAStage:
    def test_run_refuses_before_any_stage_runs(self, events: list[dict[str, Any]]) -> None:
        with pytest.raises(PipelineDefinitionError) as raised:
            crash.pipeline.run({"orders": {"b": 1}})

        assert str(raised.value) == (
            "input 'orders' names stage 'orders' of pipeline 'crash': a stage's output cannot "
            "be given as an input; to use a value instead of running the stage, pass "
            "overrides={'orders': value}"
        )
        assert events == []

    def test_validate_refuses_too(self) -> None:
        with pytest.raises(PipelineDefinitionError, match="overrides="):
            crash.pipeline.validate({"clean_orders": 1})

    def test_overrides_is_the_way(self) -> None:
        result = crash.pipeline.run(overrides={"clean_orders": 4})

        assert (result.ok, result["report"]) == (True, "4 orders")


class TestConditionsTakingContext:
    def test_a_condition_reads_the_inputs_from_context(self, executor: str) -> None:
        seen: list[tuple[str, int]] = []

        def enabled(context: StageContext) -> bool:
            seen.append((context.stage, context.attempt))
            return bool(context["enabled"])

        @stage(when=enabled)
        def work(enabled: bool) -> str:
            return "ran"

        pipeline = Pipeline([work])
        pipeline.validate({"enabled": True})
        ran = pipeline.run({"enabled": True}, executor=executor)
        skipped = pipeline.run({"enabled": False}, executor=executor)

        assert (ran["work"], skipped.stages["work"].status) == ("ran", StageStatus.SKIPPED)
        assert seen == [("work", 1), ("work", 1)]

    def test_the_stage_itself_need_not_take_context(self) -> None:
        @stage(when=lambda context: context["mode"] == "full")
        def full(mode: str) -> int:
            return 1

        assert Pipeline([full]).run({"mode": "full"})["full"] == 1


class TestLookalikeInputs:
    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ("parsd", "parsed", True),
            ("parsed", "parsd", True),
            ("rows", "rown", True),
            ("row", "rows", True),
            ("rows", "rows", False),
            ("rows", "swor", False),
            ("ab", "ba", False),
            ("a", "abc", False),
        ],
    )
    def test_one_edit_apart(self, a: str, b: str, expected: bool) -> None:
        assert one_edit_apart(a, b) is expected

    def test_a_misspelt_dependency_is_flagged(self) -> None:
        @stage
        def parsed(raw: str) -> list[str]:
            return [raw]

        @stage
        def report(parsd: list[str], raw: str) -> int:
            return len(parsd)

        pipeline = Pipeline([parsed, report])

        assert lookalike_inputs(pipeline) == [("parsd", "parsed")]
        warning = (
            "warning: input 'parsd' looks like stage 'parsed'; if it is meant to be that "
            "stage's output, rename the parameter to 'parsed'"
        )
        assert warnings_for(pipeline) == [warning]
