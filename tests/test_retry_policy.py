"""Predicate retries (``retry_on=callable``) and delay lists (``backoff=[...]``), on every
local executor (the stages live in tests/peer_stages.py so worker processes import them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peer_stages
import pytest

from flowkit import Pipeline, PipelineDefinitionError, Retry, StageStatus, stage

EXECUTORS = ["sequential", "threads", "async", "processes"]


@pytest.fixture(params=EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_predicate_retries_the_errors_it_accepts(any_executor: str, tmp_path: Path) -> None:
    result = peer_stages.retrying.run({"calls_dir": str(tmp_path)}, executor=any_executor)

    assert result.ok
    assert result["flaky"] == 3
    assert result.stages["flaky"].attempts == 3


def test_a_lambda_predicate_travels_with_a_module_level_stage(
    any_executor: str, tmp_path: Path
) -> None:
    result = peer_stages.retrying_lambda.run({"calls_dir": str(tmp_path)}, executor=any_executor)

    assert result["flaky_lambda"] == 2


def test_a_predicate_refusing_the_error_fails_the_stage_at_once(
    any_executor: str, tmp_path: Path
) -> None:
    result = peer_stages.not_retrying.run({"calls_dir": str(tmp_path)}, executor=any_executor)

    assert result.stages["broken"].status is StageStatus.FAILED
    assert result.stages["broken"].attempts == 1
    assert peer_stages.calls(tmp_path, "broken") == 1


def test_map_over_items_retry_by_the_predicate(any_executor: str, tmp_path: Path) -> None:
    result = peer_stages.retrying_items.run(
        {"calls_dir": str(tmp_path), "tries": [1, 3]}, executor=any_executor
    )

    assert result["flaky_items"] == [1, 3]


def test_retrying_events_carry_the_listed_delays(
    any_executor: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    peer_stages.retrying.run({"calls_dir": str(tmp_path)}, executor=any_executor)

    delays = [e["delay_s"] for e in events if e["event"] == "stage.retrying"]
    assert delays == [0.0, 0.01]


def test_the_delay_before_retry_k_is_the_kth_and_the_last_repeats() -> None:
    retry = Retry(attempts=6, backoff=[1, 10, 60])

    assert [retry.delay(k) for k in range(1, 6)] == [1.0, 10.0, 60.0, 60.0, 60.0]


def test_listed_delays_are_taken_as_written_not_capped_by_max_backoff() -> None:
    assert Retry(attempts=2, backoff=[100], max_backoff=5).delay(1) == 100.0
    assert Retry(attempts=3, backoff=4, max_backoff=5).delay(2) == 5.0


def test_jitter_scales_listed_delays_too() -> None:
    retry = Retry(attempts=3, backoff=[10, 20], jitter=True)

    assert all(5.0 <= retry.delay(1) < 15.0 for _ in range(50))
    assert all(10.0 <= retry.delay(2) < 30.0 for _ in range(50))


def test_the_predicate_is_asked_only_while_attempts_remain() -> None:
    asked: list[BaseException] = []

    def predicate(error: BaseException) -> bool:
        asked.append(error)
        return True

    retry = Retry(attempts=2, on=predicate)
    error = ValueError("x")

    assert retry.should_retry(1, error)
    assert not retry.should_retry(2, error)
    assert asked == [error]


def test_a_raising_predicate_does_not_retry_and_says_so_on_the_error() -> None:
    def predicate(error: BaseException) -> bool:
        raise KeyError("oops")

    error = ValueError("stage error")

    assert not Retry(attempts=3, on=predicate).should_retry(1, error)
    assert "retry_on predicate" in error.__notes__[0]
    assert "KeyError" in error.__notes__[0]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"retry_on": "ValueError"}, "retry_on must be an exception type"),
        ({"retry_on": (ValueError, 3)}, "retry_on must be an exception type"),
        ({"backoff": []}, "needs at least one number >= 0"),
        ({"backoff": [1, -2]}, "needs at least one number >= 0"),
        ({"backoff": [1, "2"]}, "needs at least one number >= 0"),
        ({"backoff": -1}, "backoff must be a number >= 0"),
    ],
)
def test_bad_retry_options_fail_at_decoration_naming_the_stage(
    options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(PipelineDefinitionError, match=expected) as raised:

        @stage(retries=2, **options)
        def load() -> int:
            return 1

    assert "stage 'load'" in str(raised.value)


def test_the_predicate_is_called_with_the_stage_error(executor: str) -> None:
    seen: list[str] = []

    def transient(error: BaseException) -> bool:
        seen.append(type(error).__name__)
        return isinstance(error, OSError)

    attempts = iter([OSError("net"), KeyError("k")])

    @stage(retries=5, retry_on=transient)
    def fetch() -> int:
        raise next(attempts)

    result = Pipeline([fetch]).run(executor=executor)

    assert result.stages["fetch"].attempts == 2
    assert seen == ["OSError", "KeyError"]
