"""Static types of predicate retries, delay lists, cache policy, several outputs and nested
pipelines: checked by ``mypy --strict tests/typing`` and run by pytest (see
test_public_api.py for how the ``type: ignore`` lines act as negative checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_type

from flowkit import FunctionStage, Pipeline, PipelineResult, Retry, Stage, stage


def transient(error: BaseException) -> bool:
    return isinstance(error, ConnectionError)


@stage(retries=3, retry_on=transient, backoff=[1, 10, 60])
def fetch(url: str) -> bytes:
    return url.encode()


@stage(cache=True, cache_ttl=3600.0, outputs=("train", "test"))
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    return rows[:1], rows[1:]


def test_new_options_keep_the_stage_types() -> None:
    typed_fetch: FunctionStage[[str], bytes] = fetch
    typed_split: FunctionStage[[list[int]], tuple[list[int], list[int]]] = split
    assert_type(fetch("u"), bytes)
    assert typed_fetch.retry.delay(3) == 60.0
    assert typed_split.outputs == ("train", "test")


def test_retry_takes_a_predicate_and_delays() -> None:
    retry = Retry(attempts=2, backoff=(1.0, 2.0), on=transient)
    assert_type(retry.should_retry(1, ConnectionError()), bool)
    assert_type(retry.delay(1), float)


def test_as_stage_and_refresh_are_typed() -> None:
    inner = Pipeline([fetch], name="inner")
    nested = inner.as_stage("web", inputs={"url": "address"}, outputs=["fetch"])
    assert_type(nested, Stage)
    outer = Pipeline([nested])
    if TYPE_CHECKING:
        assert_type(outer.run({"address": "x"}, refresh=["web.fetch"]), PipelineResult)
        assert_type(outer.run(refresh=True), PipelineResult)
        outer.run(refresh=3)  # type: ignore[arg-type]
        stage(retry_on="ValueError")  # type: ignore[call-overload]
        stage(backoff=["1"])  # type: ignore[list-item]
        stage(cache_ttl="1h")  # type: ignore[call-overload]
