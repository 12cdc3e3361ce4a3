"""The cache on every executor (DESIGN §9, §10): hits run nothing, map items are cached one
by one, and a cache that raises fails only the stage that used it (§11.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract import stages
from contract.harness import count, of, sequence
from flowkit import Pipeline, StageStatus


def test_a_hit_is_success_with_no_attempt_and_no_start(
    executor: Any, workdir: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline([stages.cached_total, stages.after_cache])
    inputs = {"numbers": [1, 2, 3], "workdir": workdir}
    first = pipeline.run(inputs, executor=executor, cache=tmp_path / "cache")
    del events[:]

    second = pipeline.run(inputs, executor=executor, cache=tmp_path / "cache")

    assert first["cached_total"] == second["cached_total"] == 6
    assert not first.stages["cached_total"].cached
    hit = second.stages["cached_total"]
    assert (hit.status, hit.cached, hit.attempts) == (StageStatus.SUCCESS, True, 0)
    assert count(workdir, "cached_total") == 1
    assert sequence(events, "cached_total") == ["stage.succeeded"]
    assert of(events, "cached_total", "stage.succeeded")[0]["cached"] is True
    assert second["after_cache"] == 7  # not cacheable: it runs again
    assert sequence(events, "after_cache") == ["stage.started", "stage.succeeded"]


def test_map_items_are_cached_one_by_one(
    executor: Any, workdir: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline([stages.cached_item])
    cache = tmp_path / "cache"
    pipeline.run({"items": [1, 2], "workdir": workdir}, executor=executor, cache=cache)

    grown = pipeline.run({"items": [1, 2, 3], "workdir": workdir}, executor=executor, cache=cache)

    assert grown["cached_item"] == [2, 4, 6]
    assert [count(workdir, f"cached_item{i}") for i in (1, 2, 3)] == [1, 1, 1]
    del events[:]

    again = pipeline.run({"items": [3, 1, 2], "workdir": workdir}, executor=executor, cache=cache)

    assert again["cached_item"] == [6, 2, 4]
    assert [count(workdir, f"cached_item{i}") for i in (1, 2, 3)] == [1, 1, 1]
    assert again.stages["cached_item"].attempts == 0  # every item was a hit
    assert "stage.started" not in sequence(events, "cached_item")


class RaisingCache:
    """A cache object whose reads fail (a broken disk, say)."""

    def key(self, stage: object, kwargs: Any) -> str:
        return "key"

    def load(self, key: str) -> tuple[bool, Any]:
        raise OSError("cache unreadable")

    def store(self, key: str, value: Any) -> None:
        raise OSError("cache unwritable")


def test_a_raising_cache_fails_the_cached_stage_and_the_run_returns(
    executor: Any, workdir: str
) -> None:
    pipeline = Pipeline(
        [stages.cached_total, stages.after_cache, stages.independent], fail_fast=False
    )

    result = pipeline.run(
        {"numbers": [1], "workdir": workdir}, executor=executor, cache=RaisingCache()
    )

    assert result.stages["cached_total"].status is StageStatus.FAILED
    assert isinstance(result.stages["cached_total"].error, OSError)
    assert result.stages["after_cache"].status is StageStatus.CANCELLED
    assert result["independent"] == "independent"
