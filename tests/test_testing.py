"""``flowkit.testing``: helpers for users' own tests."""

from __future__ import annotations

from flowkit import Pipeline, StageStatus, stage
from flowkit.testing import capture_events, run_stage


def test_run_stage_applies_retries_and_returns_the_result() -> None:
    calls: list[int] = []

    @stage(retries=2)
    def flaky(number: int) -> int:
        calls.append(number)
        if len(calls) < 2:
            raise ConnectionError("once")
        return number * 2

    result = run_stage(flaky, number=21)

    assert result.status is StageStatus.SUCCESS
    assert result.output == 42
    assert result.attempts == 2


def test_run_stage_takes_dependencies_as_arguments() -> None:
    @stage
    def total(prices: list[float], tax: float = 0.0) -> float:
        return sum(prices) * (1 + tax)

    assert run_stage(total, prices=[1.0, 2.0]).output == 3.0


def test_run_stage_honours_a_condition() -> None:
    @stage(when=lambda rows: bool(rows))
    def first(rows: list[int]) -> int:
        return rows[0]

    assert run_stage(first, rows=[]).status is StageStatus.SKIPPED


def test_capture_events_collects_only_flowkit_events_in_order() -> None:
    with capture_events() as events:
        Pipeline([stage(lambda: 1, name="one")], name="p").run()

    assert [event["event"] for event in events] == [
        "pipeline.started",
        "stage.started",
        "stage.succeeded",
        "pipeline.succeeded",
    ]
    assert {event["pipeline"] for event in events} == {"p"}
