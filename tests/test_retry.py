"""Retries: the ``Retry`` value object and how the engine retries (DESIGN.md §2, §3, §10)."""

from __future__ import annotations

import threading
import time
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from flowkit import (
    Pipeline,
    PipelineDefinitionError,
    Retry,
    StageContext,
    StageStatus,
    stage,
)


class TestRetryValue:
    def test_defaults(self) -> None:
        retry = Retry()

        assert (retry.attempts, retry.backoff, retry.max_backoff, retry.jitter) == (
            1,
            0.0,
            60.0,
            False,
        )
        assert retry.on == (Exception,)

    def test_positional_order(self) -> None:
        assert Retry(3, 0.5, 10.0, True, (KeyError,)) == Retry(
            attempts=3, backoff=0.5, max_backoff=10.0, jitter=True, on=(KeyError,)
        )

    def test_is_frozen(self) -> None:
        retry = Retry()

        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            retry.attempts = 5  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("on", "expected"),
        [
            (ValueError, (ValueError,)),
            ((ValueError, KeyError), (ValueError, KeyError)),
            ([OSError], (OSError,)),
        ],
    )
    def test_on_is_always_a_tuple(self, on: Any, expected: tuple[type, ...]) -> None:
        assert Retry(on=on).on == expected

    def test_delay_doubles_from_backoff(self) -> None:
        retry = Retry(attempts=6, backoff=0.5)

        assert [retry.delay(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]

    def test_delay_is_capped_by_max_backoff(self) -> None:
        retry = Retry(attempts=6, backoff=1.0, max_backoff=3.0)

        assert [retry.delay(k) for k in range(1, 6)] == [1.0, 2.0, 3.0, 3.0, 3.0]

    @pytest.mark.parametrize("attempt", [1, 2, 3, 5])
    def test_jitter_factor_in_half_open_range(self, attempt: int) -> None:
        retry = Retry(attempts=10, backoff=1.0, max_backoff=8.0, jitter=True)
        base = min(2.0 ** (attempt - 1), 8.0)

        delays = [retry.delay(attempt) for _ in range(300)]

        assert all(0.5 * base <= d < 1.5 * base for d in delays)
        assert min(delays) < base < max(delays), "the factor is random, not constant"

    @pytest.mark.parametrize(
        "options",
        [
            {"attempts": 0},
            {"attempts": -1},
            {"backoff": -0.1},
            {"max_backoff": -1.0},
            {"on": int},
            {"on": (ValueError, "x")},
        ],
    )
    def test_invalid_values(self, options: dict[str, Any]) -> None:
        with pytest.raises(PipelineDefinitionError):
            Retry(**options)

    def test_stage_retries_option_maps_to_attempts(self) -> None:
        @stage(retries=4, backoff=0.25, max_backoff=2.0, jitter=True, retry_on=KeyError)
        def fn() -> None:
            return None

        assert fn.retry == Retry(
            attempts=5, backoff=0.25, max_backoff=2.0, jitter=True, on=(KeyError,)
        )


def _retrying(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "stage.retrying" and e["stage"] == name]


class TestEngineRetries:
    def test_succeeds_after_failed_attempts(self, executor: str) -> None:
        seen: list[int] = []

        @stage(retries=3)
        def flaky(context: StageContext) -> str:
            seen.append(context.attempt)
            if context.attempt < 3:
                raise ConnectionError(f"attempt {context.attempt}")
            return "done"

        result = Pipeline([flaky]).run(executor=executor)

        assert seen == [1, 2, 3]
        assert result["flaky"] == "done"
        assert result.stages["flaky"].attempts == 3
        assert result.stages["flaky"].error is None

    def test_exhausted_retries_fail_with_last_error(self, executor: str) -> None:
        errors: list[Exception] = []

        @stage(retries=2)
        def always() -> None:
            errors.append(OSError(f"try {len(errors) + 1}"))
            raise errors[-1]

        result = Pipeline([always]).run(executor=executor)

        outcome = result.stages["always"]
        assert outcome.status is StageStatus.FAILED
        assert outcome.attempts == 3
        assert outcome.error is errors[-1]

    def test_delay_sequence_doubles(self, executor: str) -> None:
        @stage(retries=3, backoff=0.01)
        def always() -> None:
            raise OSError("down")

        with capture_logs() as captured:
            Pipeline([always]).run(executor=executor)

        retrying = _retrying(captured, "always")
        assert [e["attempt"] for e in retrying] == [1, 2, 3]
        assert [e["delay_s"] for e in retrying] == pytest.approx([0.01, 0.02, 0.04])

    def test_delay_sequence_capped(self, executor: str) -> None:
        @stage(retries=4, backoff=0.01, max_backoff=0.025)
        def always() -> None:
            raise OSError("down")

        with capture_logs() as captured:
            Pipeline([always]).run(executor=executor)

        delays = [e["delay_s"] for e in _retrying(captured, "always")]
        assert delays == pytest.approx([0.01, 0.02, 0.025, 0.025])

    def test_jitter_delays_in_range(self, executor: str) -> None:
        @stage(retries=4, backoff=0.004, max_backoff=0.01, jitter=True)
        def always() -> None:
            raise OSError("down")

        with capture_logs() as captured:
            Pipeline([always]).run(executor=executor)

        delays = [e["delay_s"] for e in _retrying(captured, "always")]
        bases = [0.004, 0.008, 0.01, 0.01]
        assert len(delays) == 4
        assert all(0.5 * b <= d < 1.5 * b for d, b in zip(delays, bases, strict=True))

    def test_delay_is_waited(self, executor: str) -> None:
        starts: list[float] = []

        @stage(retries=1, backoff=0.2)
        def flaky(context: StageContext) -> None:
            starts.append(time.monotonic())
            if context.attempt == 1:
                raise OSError("again")

        Pipeline([flaky]).run(executor=executor)

        assert len(starts) == 2
        assert starts[1] - starts[0] >= 0.18

    def test_zero_backoff_retries_at_once(self, executor: str) -> None:
        @stage(retries=2)
        def always() -> None:
            raise OSError("down")

        with capture_logs() as captured:
            Pipeline([always]).run(executor=executor)

        assert [e["delay_s"] for e in _retrying(captured, "always")] == [0.0, 0.0]

    def test_retry_on_non_matching_error_fails_at_once(self, executor: str) -> None:
        seen: list[int] = []

        @stage(retries=3, retry_on=ConnectionError)
        def picky() -> None:
            seen.append(1)
            raise ValueError("not retryable")

        with capture_logs() as captured:
            result = Pipeline([picky]).run(executor=executor)

        assert len(seen) == 1
        assert result.stages["picky"].status is StageStatus.FAILED
        assert result.stages["picky"].attempts == 1
        assert _retrying(captured, "picky") == []

    def test_retry_on_matching_subclass_is_retried(self, executor: str) -> None:
        seen: list[int] = []

        @stage(retries=1, retry_on=(KeyError, OSError))
        def picky() -> str:
            seen.append(1)
            if len(seen) == 1:
                raise ConnectionResetError("subclass of OSError")
            return "ok"

        assert Pipeline([picky]).run(executor=executor)["picky"] == "ok"
        assert len(seen) == 2

    def test_retry_on_switches_mid_way(self, executor: str) -> None:
        errors: list[Exception] = [OSError("retryable"), ValueError("fatal")]

        @stage(retries=5, retry_on=OSError)
        def picky() -> None:
            raise errors.pop(0)

        result = Pipeline([picky]).run(executor=executor)

        assert result.stages["picky"].attempts == 2
        assert isinstance(result.stages["picky"].error, ValueError)

    def test_default_retry_on_retries_any_exception(self, executor: str) -> None:
        seen: list[int] = []

        class StopError(Exception):
            pass

        @stage(retries=2)
        def once() -> None:
            seen.append(1)
            raise StopError("retried: it is an Exception")

        Pipeline([once]).run(executor=executor)

        assert len(seen) == 3

    def test_waiting_retry_does_not_hold_the_worker(self, executor: str) -> None:
        other_done = threading.Event()

        @stage(retries=1, backoff=0.3)
        def flaky(context: StageContext) -> bool:
            if context.attempt == 1:
                raise OSError("try again later")
            return other_done.is_set()

        @stage
        def other() -> None:
            other_done.set()

        start = time.monotonic()
        result = Pipeline([flaky, other]).run(executor=executor, max_workers=1)
        elapsed = time.monotonic() - start

        assert result["flaky"] is True, "`other` must run while `flaky` waits for its retry"
        assert elapsed >= 0.25

    def test_dependent_starts_during_anothers_retry_delay(self, executor: str) -> None:
        order: list[str] = []

        @stage(retries=1, backoff=0.3)
        def flaky(context: StageContext) -> None:
            order.append(f"flaky{context.attempt}")
            if context.attempt == 1:
                raise OSError("later")

        @stage
        def a() -> int:
            order.append("a")
            return 1

        @stage
        def b(a: int) -> int:
            order.append("b")
            return a

        Pipeline([flaky, a, b]).run(executor=executor, max_workers=1)

        assert order == ["flaky1", "a", "b", "flaky2"]
