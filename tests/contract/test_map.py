"""``map_over`` on every executor (DESIGN §5, §10, §11.1): item order, per-item retries, the
failing index, attempts, and retry delays that hold no worker."""

from __future__ import annotations

import re
from typing import Any

from contract import stages
from contract.harness import count, sequence, stamps
from flowkit import Pipeline, StageStatus


def test_outputs_keep_input_order_and_each_item_has_its_own_retries(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    items = [4, 0, 2, 1, 3]  # item i fails its first i % 3 attempts; retries=2

    result = Pipeline([stages.per_item]).run(
        {"items": items, "workdir": workdir}, executor=executor
    )

    outcome = result.stages["per_item"]
    assert outcome.status is StageStatus.SUCCESS
    assert outcome.output == [40, 0, 20, 10, 30]
    assert outcome.attempts == 3  # the largest item attempt count (item 2)
    assert [count(workdir, f"item{i}") for i in items] == [2, 1, 3, 2, 1]
    assert sequence(events, "per_item")[-1] == "stage.succeeded"


def test_a_failing_item_fails_the_stage_naming_the_lowest_failing_index(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([stages.breaks_on_big]).run({"items": [10, 11, 13, 12]}, executor=executor)

    outcome = result.stages["breaks_on_big"]
    assert outcome.status is StageStatus.FAILED
    assert isinstance(outcome.error, ValueError)
    assert "too big: 13" in str(outcome.error)
    assert re.search(r"\b2\b", str(outcome.error)), outcome.error  # names index 2
    assert outcome.attempts == 1
    assert sequence(events, "breaks_on_big")[-1] == "stage.failed"


def test_an_empty_iterable_gives_an_empty_list(executor: Any) -> None:
    result = Pipeline([stages.breaks_on_big]).run({"items": []}, executor=executor)

    assert result["breaks_on_big"] == []


def test_an_item_retry_delay_holds_no_worker(executor: Any, workdir: str) -> None:
    """With one worker, ``bystander`` runs while item 0 waits its 0.5 s backoff."""
    pipeline = Pipeline([stages.item_retry, stages.bystander])

    result = pipeline.run({"items": [0], "workdir": workdir}, executor=executor, max_workers=1)

    assert result["item_retry"] == [0]
    assert result.stages["item_retry"].attempts == 2
    first, second = stamps(workdir, "item_retry0")
    (ran,) = stamps(workdir, "bystander")
    assert ran < second
    assert second - first >= 0.5
