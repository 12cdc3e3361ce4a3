"""The executor-object protocol: a user-made executor gets every flowkit semantic."""

from __future__ import annotations

import queue
import threading
from collections.abc import Hashable
from typing import Any

import pytest
from structlog.testing import capture_logs

from flowkit import Pipeline, StageStatus, StageTimeoutError, stage
from flowkit.executors import Completion, Executor, call_stage
from flowkit.executors._protocol import Stage


class ThreadPerCall:
    """A minimal executor object: one daemon thread per call, completions on a queue."""

    def __init__(self) -> None:
        self.done: queue.Queue[Completion] = queue.Queue()
        self.cancelled: set[Hashable] = set()
        self.started = self.shut_down = 0
        self.capacity_asked: int | None = -1

    def start(self, max_workers: int | None) -> int:
        self.started += 1
        self.capacity_asked = max_workers
        return 4

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        def target() -> None:
            try:
                completion = Completion(key, True, call_stage(stage, kwargs), worker="t1")
            except Exception as error:
                completion = Completion(key, False, error, worker="t1")
            self.done.put(completion)

        threading.Thread(target=target, daemon=True).start()

    def wait(self, timeout: float | None) -> list[Completion]:
        try:
            return [self.done.get(timeout=timeout)]
        except queue.Empty:
            return []

    def cancel(self, key: Hashable) -> None:
        self.cancelled.add(key)

    def shutdown(self) -> None:
        self.shut_down += 1


def test_the_example_executor_satisfies_the_protocol() -> None:
    assert isinstance(ThreadPerCall(), Executor)


def test_results_match_the_threads_executor() -> None:
    pipeline = Pipeline(name="proto")

    @pipeline.stage
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @pipeline.stage(map_over="numbers")
    def squared(numbers: int) -> int:
        return numbers * numbers

    @pipeline.stage(when=lambda numbers: len(numbers) > 100)
    def never(numbers: list[int]) -> int:
        return 0

    @pipeline.stage
    def total(squared: list[int], never: int = -1) -> int:
        return sum(squared) + never

    executor = ThreadPerCall()
    by_object = pipeline.run({"n": 4}, executor=executor)

    assert by_object.outputs == pipeline.run({"n": 4}, executor="threads").outputs
    assert by_object["total"] == 13
    assert by_object.stages["never"].status is StageStatus.SKIPPED
    assert (executor.started, executor.shut_down, executor.capacity_asked) == (1, 1, None)


def test_events_carry_the_worker_and_retries_are_resubmitted() -> None:
    tries: list[int] = []

    @stage(retries=1)
    def flaky() -> int:
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionError("first")
        return 7

    with capture_logs() as logs:
        result = Pipeline([flaky]).run(executor=ThreadPerCall(), max_workers=3)

    assert result["flaky"] == 7
    retrying = next(log for log in logs if log["event"] == "stage.retrying")
    succeeded = next(log for log in logs if log["event"] == "stage.succeeded")
    assert retrying["worker"] == succeeded["worker"] == "t1"


def test_a_timeout_cancels_the_call_and_fails_the_attempt() -> None:
    release = threading.Event()

    @stage(timeout=0.2)
    def stuck() -> int:
        release.wait(10)
        return 1

    executor = ThreadPerCall()
    result = Pipeline([stuck]).run(executor=executor)
    release.set()

    assert isinstance(result.stages["stuck"].error, StageTimeoutError)
    assert executor.cancelled == {(0, None)}


class CannotStart(ThreadPerCall):
    def start(self, max_workers: int | None) -> int:
        raise ConnectionRefusedError("no scheduler at tcp://127.0.0.1:1")


def test_an_executor_that_cannot_start_fails_before_the_run_begins() -> None:
    executor = CannotStart()

    with capture_logs() as logs, pytest.raises(ConnectionRefusedError):
        Pipeline([stage(lambda: 1, name="one")]).run(executor=executor)

    assert logs == []  # not even pipeline.started
    assert executor.shut_down == 1


def test_an_object_that_is_not_an_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="start/submit/wait/cancel/shutdown"):
        Pipeline([stage(lambda: 1, name="one")]).run(executor=object())
