"""Skips, conditions and cancel-beats-skip on every executor (DESIGN §3, §10, §11.1)."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from contract import kinds
from contract.harness import count, sequence
from flowkit import Pipeline, StageStatus, stage

SKIPPED, CANCELLED = StageStatus.SKIPPED, StageStatus.CANCELLED


@pytest.mark.parametrize("fail_fast", [False, True])
def test_cancel_beats_skip_in_any_parameter_order(
    executor: Any, fail_fast: bool, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(
        [
            kinds.skipped_stage,
            kinds.failed_stage,
            kinds.skip_then_fail,
            kinds.fail_then_skip,
            kinds.skip_and_ordered_fail,
        ],
        fail_fast=fail_fast,
    )

    result = pipeline.run(executor=executor)

    assert result.stages["skipped_stage"].status is SKIPPED
    assert result.stages["failed_stage"].status is StageStatus.FAILED
    for name in ("skip_then_fail", "fail_then_skip", "skip_and_ordered_fail"):
        assert result.stages[name].status is CANCELLED, name
        assert sequence(events, name) == ["stage.cancelled"], name


def test_skips_propagate_through_data_not_through_depends_on(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(
        [kinds.skipped_stage, kinds.after_skipped, kinds.uses_default, kinds.needs_skipped]
    )

    result = pipeline.run(executor=executor)

    assert result.ok
    assert sequence(events, "skipped_stage") == ["stage.skipped"]
    assert result.stages["needs_skipped"].status is SKIPPED
    assert sequence(events, "needs_skipped") == ["stage.skipped"]
    assert "skipped_stage" in (result.stages["needs_skipped"].skip_reason or "")
    assert result["after_skipped"] == "ran"  # a skipped depends_on does not skip
    assert result["uses_default"] == 42  # the default stands in for the skipped output
    assert "skipped_stage" not in result.outputs


def test_a_raising_condition_is_a_failed_attempt_and_is_retried(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline([kinds.guarded_retry, kinds.guarded_fail], fail_fast=False)

    result = pipeline.run({"workdir": workdir}, executor=executor)

    retried = result.stages["guarded_retry"]
    assert (retried.status, retried.attempts, retried.output) == (StageStatus.SUCCESS, 2, "ran")
    assert count(workdir, "guarded_retry") == 1
    assert "stage.retrying" in sequence(events, "guarded_retry")
    failed = result.stages["guarded_fail"]
    assert (failed.status, failed.attempts) == (StageStatus.FAILED, 1)
    assert isinstance(failed.error, OSError)
    assert count(workdir, "guarded_fail") == 0
    assert sequence(events, "guarded_fail")[-1] == "stage.failed"


@stage
def part_a() -> str:
    return "a"


@stage
def part_b() -> str:
    return "b"


@stage
def part_c() -> str:
    return "c"


@stage
def part_d() -> str:
    return "d"


@stage
def part_e() -> str:
    return "e"


@stage
def part_f() -> str:
    return "f"


@stage
def part_g() -> str:
    return "g"


@stage
def wide(  # noqa: PLR0917 - wide on purpose: flowkit passes these by position
    part_a: str,
    part_b: str,
    part_c: str,
    skipped_stage: object = "default",
    part_d: str = "",
    part_e: str = "",
    part_f: str = "",
    part_g: str = "",
) -> str:
    return "-".join((part_a, part_b, part_c, str(skipped_stage), part_d, part_e, part_f, part_g))


def test_a_wide_stage_gets_each_argument_in_its_place(executor: Any) -> None:
    parts = [part_a, part_b, part_c, part_d, part_e, part_f, part_g]
    pipeline = Pipeline([*parts, kinds.skipped_stage, wide])

    quiet = pipeline.run(executor=executor)
    with capture_logs():  # events on: the engine's general path
        heard = pipeline.run(executor=executor)

    for result in (quiet, heard):
        assert result.ok, result
        assert result["wide"] == "a-b-c-default-d-e-f-g"  # the skipped one took its default
