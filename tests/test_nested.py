"""Nested pipelines: ``inner.as_stage(name, inputs=..., outputs=...)`` on every local executor
and on a Dask LocalCluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peer_stages
import pytest

from flowkit import (
    DuplicateStageError,
    Pipeline,
    PipelineDefinitionError,
    StageStatus,
    stage,
)

EXECUTORS = ["sequential", "threads", "async", "processes"]
INNER_NAMES = ["prep.clean", "prep.shout", "prep.count_words"]


@pytest.fixture(params=EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_inner_stages_run_under_dotted_names_with_their_own_results(any_executor: str) -> None:
    result = peer_stages.outer.run({"text": "hello big world"}, executor=any_executor)

    assert result.ok
    assert list(result.stages) == ["source", *INNER_NAMES, "prep", "report"]
    assert result["prep.clean"] == "hello big world"
    assert result["prep"] == {"shout": "HELLO BIG WORLD!", "count_words": 3}
    assert result["report"] == "HELLO BIG WORLD! (3 words)"


def test_inner_stage_events_carry_dotted_names(
    any_executor: str, events: list[dict[str, Any]]
) -> None:
    peer_stages.outer.run({"text": "a b"}, executor=any_executor)

    succeeded = [e["stage"] for e in events if e["event"] == "stage.succeeded"]
    assert set(INNER_NAMES) <= set(succeeded)
    assert {e["pipeline"] for e in events if e.get("stage") in INNER_NAMES} == {"outer"}


def test_the_inner_pipeline_is_unchanged_and_still_runs_alone(any_executor: str) -> None:
    result = peer_stages.inner.run({"raw": " x y "}, executor=any_executor)

    assert list(peer_stages.inner.stages) == ["clean", "shout", "count_words"]
    assert result.outputs == {"clean": "x y", "shout": "X Y!", "count_words": 2}


def test_an_inner_failure_fails_fast_across_the_outer_run(any_executor: str) -> None:
    result = peer_stages.failing_outer.run({"text": "t"}, executor=any_executor)

    assert result.stages["prep.fails_inside"].status is StageStatus.FAILED
    assert "inner failure" in str(result.stages["prep.fails_inside"].error)
    assert "after_inner" not in result.outputs
    assert not result.ok


def test_outer_inputs_are_the_inner_inputs_renamed() -> None:
    assert set(peer_stages.outer.inputs) == {"text", "suffix"}
    assert peer_stages.outer.inputs["suffix"].required is False


def test_outputs_choose_what_the_stage_returns_and_what_runs(executor: str) -> None:
    outer = Pipeline([peer_stages.inner.as_stage("prep", outputs=["count_words"])], name="counting")

    result = outer.run({"raw": " one two "}, executor=executor)

    assert result["prep"] == {"count_words": 2}
    assert "prep.shout" not in result.stages


def test_targets_and_overrides_take_dotted_names(executor: str) -> None:
    result = peer_stages.outer.run(
        {}, targets=["prep.shout"], overrides={"prep.clean": "given"}, executor=executor
    )

    assert result["prep.shout"] == "GIVEN!"
    assert "source" not in result.stages


def test_a_pipeline_nests_inside_a_nested_pipeline(executor: str) -> None:
    middle = Pipeline([peer_stages.inner.as_stage("deep", inputs={"raw": "start"})], name="mid")
    top = Pipeline([middle.as_stage("mid")], name="top")

    result = top.run({"start": " z "}, executor=executor)

    assert result["mid.deep.shout"] == "Z!"
    assert result["mid"] == {"deep": {"shout": "Z!", "count_words": 1}}


def test_nested_stages_are_cached_under_their_dotted_names(tmp_path: Any) -> None:
    @stage(cache=True)
    def expensive(raw: str) -> str:
        return raw * 2

    outer = Pipeline([Pipeline([expensive]).as_stage("sub")])
    outer.run({"raw": "a"}, cache=tmp_path)

    again = outer.run({"raw": "a"}, cache=tmp_path)
    refreshed = outer.run({"raw": "a"}, cache=tmp_path, refresh=["sub"])

    assert again.stages["sub.expensive"].cached
    assert not refreshed.stages["sub.expensive"].cached


def test_renderings_and_order_show_the_nesting() -> None:
    mermaid = peer_stages.outer.to_mermaid()

    assert "prep.clean" in mermaid
    assert "subgraph" in mermaid


def test_an_unknown_renamed_input_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"'rw'.*did you mean 'raw'"):
        peer_stages.inner.as_stage("prep", inputs={"rw": "source"})


def test_an_unknown_output_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"'shot'.*did you mean 'shout'"):
        peer_stages.inner.as_stage("prep", outputs=["shot"])


def test_a_dotted_name_clashing_with_a_stage_is_a_duplicate() -> None:
    @stage(name="prep.clean")
    def clash() -> int:
        return 1

    outer = Pipeline([clash, peer_stages.inner.as_stage("prep")])

    with pytest.raises(DuplicateStageError, match=r"prep\.clean"):
        outer.validate()


def test_the_nested_stage_cannot_be_run_on_its_own() -> None:
    with pytest.raises(TypeError, match="runs as part of its outer pipeline"):
        peer_stages.inner.as_stage("prep").execute({})


def test_nested_stages_outputs_and_refresh_run_on_dask(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from flowkit.executors import DaskExecutor

    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    inputs = {"x": 1, "xs": [1, 2], "calls_dir": str(calls_dir)}
    with DaskExecutor(n_workers=1, threads_per_worker=2) as dask:
        result = peer_stages.outer.run({"text": "on dask"}, executor=dask)
        failed = peer_stages.failing_outer.run({"text": "t"}, executor=dask)
        split = peer_stages.splitting.run({"rows": [1, 2, 3, 4]}, executor=dask)
        peer_stages.caching.run(inputs, executor=dask, cache=tmp_path / "cache")
        peer_stages.caching.run(
            inputs, executor=dask, cache=tmp_path / "cache", refresh=["kept", "per_item"]
        )

    assert split["score"] == 307
    assert [peer_stages.calls(calls_dir, n) for n in ("fresh", "kept", "per_item1")] == [1, 2, 2]
    assert result["report"] == "ON DASK! (2 words)"
    assert result.stages["prep.clean"].status is StageStatus.SUCCESS
    assert failed.stages["prep.fails_inside"].status is StageStatus.FAILED
    assert "after_inner" not in failed.outputs


def test_a_nested_stage_s_cache_key_follows_the_inner_code() -> None:
    from flowkit._cache.fingerprint import fingerprint

    @stage
    def one(raw: str) -> str:
        return raw

    @stage(name="one")
    def other(raw: str) -> str:
        return raw + "!"

    first = Pipeline([Pipeline([one]).as_stage("sub")])._compiled().stages["sub.one"]
    second = Pipeline([Pipeline([other]).as_stage("sub")])._compiled().stages["sub.one"]

    assert fingerprint(first) == fingerprint(one)
    assert fingerprint(first) != fingerprint(second)


def test_an_inner_stage_from_main_is_refused_by_the_processes_executor() -> None:
    @stage
    def local(raw: str) -> str:
        return raw

    local.__module__ = "__main__"
    outer = Pipeline([Pipeline([local]).as_stage("sub")])

    with pytest.raises(PipelineDefinitionError, match=r"'sub\.local' is defined in __main__"):
        outer.run({"raw": "x"}, executor="processes")


def test_a_parallel_group_inside_a_nested_pipeline_runs(executor: str) -> None:
    from flowkit import ParallelStage

    @stage
    def left(raw: str) -> str:
        return raw + "L"

    @stage
    def right(raw: str) -> str:
        return raw + "R"

    inner = Pipeline([ParallelStage("both", [left, right])])
    result = Pipeline([inner.as_stage("sub")]).run({"raw": "x"}, executor=executor)

    assert result["sub.both"] == {"left": "xL", "right": "xR"}


def test_a_pipeline_given_as_a_stage_points_to_as_stage() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"is a pipeline, not a stage.*as_stage"):
        Pipeline([peer_stages.inner])  # type: ignore[list-item]


def test_inner_conditions_and_fan_out_keep_working(executor: str) -> None:
    @stage
    def numbers(count: int) -> list[int]:
        return list(range(count))

    @stage(map_over="numbers", retries=1)
    def squares(numbers: int) -> int:
        return numbers * numbers

    @stage(when=lambda verbose: verbose)
    def shown(squares: list[int]) -> str:
        return str(squares)

    inner = Pipeline([numbers, squares, shown])
    outer = Pipeline([inner.as_stage("calc", inputs={"count": "n"}, outputs=["squares", "shown"])])

    quiet = outer.run({"n": 3, "verbose": False}, executor=executor)
    loud = outer.run({"n": 3, "verbose": True}, executor=executor)

    assert quiet["calc.squares"] == [0, 1, 4]
    assert quiet.stages["calc.shown"].status is StageStatus.SKIPPED
    assert quiet["calc"] == {"squares": [0, 1, 4]}
    assert loud["calc"] == {"squares": [0, 1, 4], "shown": "[0, 1, 4]"}
