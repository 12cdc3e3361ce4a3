"""Cache policy: ``cache_ttl=`` expires entries, ``refresh=`` recomputes what it names, on
every local executor. An entry's age is its file's modification time, so a test ages an
entry by setting that time back instead of sleeping."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import peer_stages
import pytest

from flowkit import Cache, Pipeline, PipelineDefinitionError, PipelineResult, stage

EXECUTORS = ["sequential", "threads", "async", "processes"]


@pytest.fixture(params=EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def entries(cache_dir: Path, stage_name: str) -> list[Path]:
    return (
        sorted((cache_dir / stage_name).glob("*.pkl")) if (cache_dir / stage_name).is_dir() else []
    )


def age(paths: list[Path], seconds: float) -> None:
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def run_caching(tmp_path: Path, executor: str, **options: Any) -> PipelineResult:
    inputs = {"x": 1, "xs": [1, 2], "calls_dir": str(tmp_path / "calls")}
    return peer_stages.caching.run(
        inputs,
        executor=executor,
        cache=tmp_path / "cache",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def calls_dir(tmp_path: Path) -> Path:
    (tmp_path / "calls").mkdir()
    return tmp_path / "calls"


def test_an_entry_older_than_its_ttl_is_recomputed_and_overwritten(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)
    [entry] = entries(tmp_path / "cache", "fresh")
    age([entry], 7200)  # older than fresh's cache_ttl of an hour
    aged = entry.stat().st_mtime

    second = run_caching(tmp_path, any_executor)
    third = run_caching(tmp_path, any_executor)

    assert not second.stages["fresh"].cached
    assert second.stages["kept"].cached
    assert entry.stat().st_mtime > aged  # overwritten in place
    assert third.stages["fresh"].cached
    assert peer_stages.calls(calls_dir, "fresh") == 2


def test_an_entry_within_its_ttl_is_a_hit(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)
    age(entries(tmp_path / "cache", "fresh"), 60)

    second = run_caching(tmp_path, any_executor)

    assert second.stages["fresh"].cached


def test_map_over_items_expire_one_by_one(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)
    items = entries(tmp_path / "cache", "per_item")
    assert len(items) == 2
    age(items[:1], 7200)

    run_caching(tmp_path, any_executor)

    assert (
        peer_stages.calls(calls_dir, "per_item1") + peer_stages.calls(calls_dir, "per_item2") == 3
    )


def test_refresh_recomputes_exactly_the_named_stages(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)

    second = run_caching(tmp_path, any_executor, refresh=["kept"])
    third = run_caching(tmp_path, any_executor)

    assert second.stages["fresh"].cached
    assert not second.stages["kept"].cached
    assert [peer_stages.calls(calls_dir, n) for n in ("fresh", "kept", "per_item1")] == [1, 2, 1]
    assert third.stages["kept"].cached


def test_refresh_of_a_map_over_stage_recomputes_every_item(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)

    run_caching(tmp_path, any_executor, refresh=["per_item"])

    assert [peer_stages.calls(calls_dir, n) for n in ("fresh", "per_item1", "per_item2")] == [
        1,
        2,
        2,
    ]


def test_refresh_true_recomputes_every_cached_stage(
    any_executor: str, tmp_path: Path, calls_dir: Path
) -> None:
    run_caching(tmp_path, any_executor)

    second = run_caching(tmp_path, any_executor, refresh=True)
    third = run_caching(tmp_path, any_executor)

    assert not any(r.cached for r in second.stages.values())
    assert third.stages["fresh"].cached
    assert third.stages["kept"].cached
    assert peer_stages.calls(calls_dir, "per_item2") == 2


def test_refreshing_an_output_refreshes_its_producer(tmp_path: Path) -> None:
    inputs = {"rows": [1, 2, 3, 4]}
    peer_stages.splitting.run(inputs, cache=tmp_path)

    again = peer_stages.splitting.run(inputs, cache=tmp_path, refresh=["test"])

    assert not again.stages["split"].cached


def test_an_unknown_refresh_name_fails_before_any_stage_runs(
    tmp_path: Path, calls_dir: Path
) -> None:
    with pytest.raises(
        PipelineDefinitionError, match=r"unknown refresh 'kep'.*did you mean 'kept'"
    ):
        run_caching(tmp_path, "threads", refresh=["kep"])

    assert peer_stages.calls(calls_dir, "fresh") == 0


def test_refresh_without_a_cache_is_an_error() -> None:
    with pytest.raises(PipelineDefinitionError, match="pass cache=DIR"):
        peer_stages.caching.run({"x": 1, "xs": [], "calls_dir": "."}, refresh=True)


def test_refresh_works_with_run_async_and_a_cache_object(tmp_path: Path) -> None:
    import asyncio

    counted: list[int] = []

    @stage(cache=True)
    def once(x: int) -> int:
        counted.append(x)
        return x

    pipeline = Pipeline([once])
    cache = Cache(tmp_path)
    pipeline.run({"x": 1}, cache=cache)
    asyncio.run(pipeline.run_async({"x": 1}, cache=cache, refresh=["once"]))
    pipeline.run({"x": 1}, cache=cache)

    assert counted == [1, 1]


@pytest.mark.parametrize("ttl", [0, -1, True, "10"])
def test_a_bad_cache_ttl_fails_at_decoration(ttl: object) -> None:
    with pytest.raises(PipelineDefinitionError, match="stage 'load': cache_ttl must be"):

        @stage(cache=True, cache_ttl=ttl)  # type: ignore[call-overload]
        def load() -> int:
            return 1


def test_a_cache_ttl_without_cache_is_an_error() -> None:
    with pytest.raises(PipelineDefinitionError, match="needs cache=True"):

        @stage(cache_ttl=10)
        def load() -> int:
            return 1
