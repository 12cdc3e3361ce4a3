"""``map_over``: one call per item, own retries and timeout, results in input order."""

from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

from flowkit import Pipeline, StageStatus, StageTimeoutError, stage

EXECUTORS = ["sequential", "threads", "async", "processes"]


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
def test_results_come_back_in_input_order(executor: str) -> None:
    @stage(map_over="numbers")
    def square(numbers: int, offset: int = 0) -> int:
        time.sleep(0.001 * (5 - numbers))  # later items finish first
        return numbers * numbers + offset

    result = Pipeline([square]).run({"numbers": [1, 2, 3, 4], "offset": 1}, executor=executor)

    assert result["square"] == [2, 5, 10, 17]


def test_items_run_concurrently_up_to_max_workers() -> None:
    @stage(map_over="items")
    def nap(items: int) -> int:
        time.sleep(0.2)
        return items

    start = time.monotonic()
    result = Pipeline([nap]).run({"items": list(range(8))}, max_workers=8)
    elapsed = time.monotonic() - start

    assert result["nap"] == list(range(8))
    assert elapsed < 8 * 0.2 / 2  # sequentially: 1.6 s


def test_each_item_has_its_own_retries() -> None:
    tries: dict[int, int] = {}
    lock = threading.Lock()

    @stage(map_over="items", retries=2)
    def flaky(items: int) -> int:
        with lock:
            tries[items] = tries.get(items, 0) + 1
            count = tries[items]
        if items == 2 and count < 3:
            raise ConnectionError("transient")
        return items

    with capture_logs() as logs:
        result = Pipeline([flaky]).run({"items": [1, 2, 3]})

    assert result["flaky"] == [1, 2, 3]
    assert tries == {1: 1, 2: 3, 3: 1}
    assert result.stages["flaky"].attempts == 3  # the largest item attempt count
    retrying = [log for log in logs if log["event"] == "stage.retrying"]
    assert [log["item"] for log in retrying] == [1, 1]


def test_each_item_has_its_own_timeout() -> None:
    @stage(map_over="items", timeout=0.3)
    def maybe_slow(items: float) -> float:
        time.sleep(items)
        return items

    result = Pipeline([maybe_slow]).run({"items": [0.0, 5.0]})

    failed = result.stages["maybe_slow"]
    assert failed.status is StageStatus.FAILED
    assert isinstance(failed.error, StageTimeoutError)
    assert "item 1" in str(failed.error)


def test_the_lowest_failing_index_is_the_error_and_names_it() -> None:
    @stage(map_over="items")
    def picky(items: int) -> int:
        if items % 2:
            raise ValueError(f"odd {items}")
        return items

    result = Pipeline([picky]).run({"items": [0, 1, 2, 3]})

    error = result.stages["picky"].error
    assert isinstance(error, ValueError)
    assert str(error) == "item 1: odd 1"


def test_fan_out_over_a_dependency_output() -> None:
    pipeline = Pipeline(name="fan")

    @pipeline.stage
    def urls() -> list[str]:
        return ["a", "bb", "ccc"]

    @pipeline.stage(map_over="urls")
    def size(urls: str) -> int:
        return len(urls)

    @pipeline.stage
    def total(size: list[int]) -> int:
        return sum(size)

    assert pipeline.run()["total"] == 6


def test_an_empty_iterable_gives_an_empty_list() -> None:
    @stage(map_over="items")
    def one(items: int) -> int:
        return items

    assert Pipeline([one]).run({"items": []})["one"] == []
