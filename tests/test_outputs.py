"""Several named outputs: ``@stage(outputs=(...))`` on every local executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peer_stages
import pytest

from flowkit import (
    DuplicateStageError,
    Pipeline,
    PipelineDefinitionError,
    StageOutputError,
    StageStatus,
    stage,
)

EXECUTORS = ["sequential", "threads", "async", "processes"]
ROWS = {"rows": [1, 2, 3, 4]}


@pytest.fixture(params=EXECUTORS)
def any_executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_each_output_is_a_node_other_stages_take(any_executor: str) -> None:
    result = peer_stages.splitting.run(ROWS, executor=any_executor)

    assert result.ok
    assert result["train"] == [1, 2]
    assert result["test"] == [3, 4]
    assert result["score"] == 307
    assert result["split"] == {"train": [1, 2], "test": [3, 4]}
    assert (result["low"], result["high"]) == (1, 4)


def test_outputs_are_stages_of_the_graph(any_executor: str) -> None:
    pipeline = peer_stages.splitting

    assert pipeline.dependencies("fit") == ("train",)
    assert pipeline.dependencies("train") == ("split",)
    assert set(pipeline.order) >= {"split", "train", "test", "low", "high"}


def test_a_wrong_length_tuple_fails_the_producing_stage_naming_it(any_executor: str) -> None:
    result = peer_stages.bad_length.run(ROWS, executor=any_executor)

    failed = result.stages["three_halves"]
    assert failed.status is StageStatus.FAILED
    assert isinstance(failed.error, StageOutputError)
    assert "stage 'three_halves' declares 2 outputs" in str(failed.error)
    assert "tuple of 3" in str(failed.error)
    assert result.stages["left"].status is not StageStatus.SUCCESS


def test_a_missing_key_fails_the_stage_naming_the_output(any_executor: str) -> None:
    result = peer_stages.missing_key.run(ROWS, executor=any_executor)

    error = result.stages["async_bounds"].error
    assert isinstance(error, StageOutputError)
    assert (error.stage, error.output) == ("async_bounds", "high")
    assert "no key 'high'" in str(error)


def test_targets_run_only_what_an_output_needs(any_executor: str) -> None:
    result = peer_stages.splitting.run(ROWS, targets=["fit"], executor=any_executor)

    assert list(result.stages) == ["split", "train", "fit"]


def test_an_output_can_be_overridden_and_its_producer_is_then_not_run(any_executor: str) -> None:
    result = peer_stages.splitting.run(
        {}, targets=["fit"], overrides={"train": [5, 5]}, executor=any_executor
    )

    assert result["fit"] == 10
    assert "split" not in result.stages


def test_the_producer_can_be_overridden_by_its_tuple(any_executor: str) -> None:
    result = peer_stages.splitting.run(
        {}, targets=["score"], overrides={"split": ([1], [2])}, executor=any_executor
    )

    assert result["score"] == 102


def test_a_multi_output_stage_is_cached_once_for_all_outputs(tmp_path: Path) -> None:
    peer_stages.splitting.run(ROWS, cache=tmp_path)

    again = peer_stages.splitting.run(ROWS, cache=tmp_path)

    assert again.stages["split"].cached
    assert again["test"] == [3, 4]


def test_renderings_show_the_outputs_as_nodes() -> None:
    mermaid = peer_stages.splitting.to_mermaid()
    dot = peer_stages.splitting.to_dot()

    assert "split --> train" in mermaid
    assert "split --> test" in mermaid
    assert '"split" -> "train"' in dot or "split -> train" in dot


def test_the_decorated_function_still_returns_its_tuple() -> None:
    assert peer_stages.split([1, 2, 3, 4]) == ([1, 2], [3, 4])


def test_an_output_named_like_a_stage_is_a_duplicate() -> None:
    @stage(outputs=("train", "test"))
    def split(rows: list[int]) -> tuple[list[int], list[int]]:
        return rows, rows

    @stage
    def train(rows: list[int]) -> int:
        return 1

    pipeline = Pipeline([split, train])

    with pytest.raises(DuplicateStageError, match="'train'"):
        pipeline.validate()


@pytest.mark.parametrize("outputs", [(), ("a", "a"), ("a", ""), ("context",), [3]])
def test_bad_outputs_fail_at_decoration(outputs: Any) -> None:
    with pytest.raises(PipelineDefinitionError, match="outputs"):

        @stage(outputs=outputs)
        def split() -> tuple[int, int]:
            return 1, 2


def test_outputs_with_map_over_is_refused() -> None:
    with pytest.raises(PipelineDefinitionError, match="cannot be combined"):

        @stage(outputs=("a", "b"), map_over="xs")
        def split(xs: int) -> tuple[int, int]:
            return xs, xs


def test_a_conditional_multi_output_stage_skips_its_outputs(executor: str) -> None:
    @stage(outputs=("a", "b"), when=lambda go: go)
    def pair() -> tuple[int, int]:
        return 1, 2

    result = Pipeline([pair]).run({"go": False}, executor=executor)

    assert result.stages["pair"].status is StageStatus.SKIPPED
    assert result.stages["a"].status is StageStatus.SKIPPED
    assert Pipeline([pair]).run({"go": True}, executor=executor)["b"] == 2
