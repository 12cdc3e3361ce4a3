"""Module-level stages for the tests of predicate retries, cache policy, several outputs and
nested pipelines (process and Dask workers import them by name). Stages that count their
calls write one file per call into the directory they are given, which works across
processes."""

from __future__ import annotations

import uuid
from pathlib import Path

from flowkit import Pipeline, stage


def record(directory: str, name: str) -> int:
    """Note one call of ``name`` in ``directory``; return how many there have been."""
    (Path(directory) / f"{name}-{uuid.uuid4().hex}").touch()
    return len(list(Path(directory).glob(f"{name}-*")))


def calls(directory: str | Path, name: str) -> int:
    return len(list(Path(directory).glob(f"{name}-*")))


def is_transient(error: BaseException) -> bool:
    return "transient" in str(error)


# -- retries ---------------------------------------------------------------------------------


@stage(retries=5, backoff=[0.0, 0.01], retry_on=is_transient)
def flaky(calls_dir: str) -> int:
    count = record(calls_dir, "flaky")
    if count < 3:
        raise ConnectionError("transient: try again")
    return count


@stage(retries=5, backoff=[0.0], retry_on=is_transient)
def broken(calls_dir: str) -> int:
    record(calls_dir, "broken")
    raise ValueError("fatal: bad data")


@stage(retries=2, map_over="tries", backoff=[0.0], retry_on=is_transient)
def flaky_items(tries: int, calls_dir: str) -> int:
    count = record(calls_dir, f"item{tries}")
    if count < tries:
        raise ConnectionError("transient")
    return count


@stage(retries=3, backoff=[0.0], retry_on=lambda error: "transient" in str(error))
def flaky_lambda(calls_dir: str) -> int:
    count = record(calls_dir, "flaky_lambda")
    if count < 2:
        raise ConnectionError("transient")
    return count


retrying = Pipeline([flaky], name="retrying")
retrying_lambda = Pipeline([flaky_lambda], name="retrying_lambda")
not_retrying = Pipeline([broken], name="not_retrying")
retrying_items = Pipeline([flaky_items], name="retrying_items")


# -- cache policy ----------------------------------------------------------------------------


@stage(cache=True, cache_ttl=3600)
def fresh(x: int, calls_dir: str) -> int:
    record(calls_dir, "fresh")
    return x + 1


@stage(cache=True)
def kept(fresh: int, calls_dir: str) -> int:
    record(calls_dir, "kept")
    return fresh * 10


@stage(cache=True, cache_ttl=3600, map_over="xs")
def per_item(xs: int, calls_dir: str) -> int:
    record(calls_dir, f"per_item{xs}")
    return xs * 2


caching = Pipeline([fresh, kept, per_item], name="caching")


# -- several outputs ---------------------------------------------------------------------------


@stage(outputs=("train", "test"), cache=True)
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    middle = len(rows) // 2
    return rows[:middle], rows[middle:]


@stage
def fit(train: list[int]) -> int:
    return sum(train)


@stage
def score(fit: int, test: list[int]) -> int:
    return fit * 100 + sum(test)


@stage(outputs=("low", "high"))
def bounds(rows: list[int]) -> dict[str, int]:
    return {"low": min(rows), "high": max(rows)}


@stage(outputs=("left", "right"))
def three_halves(rows: list[int]) -> tuple[int, int, int]:
    return 1, 2, 3


@stage(outputs=("low", "high"))
async def async_bounds(rows: list[int]) -> dict[str, int]:
    return {"low": min(rows)}


splitting = Pipeline([split, fit, score, bounds], name="splitting")
bad_length = Pipeline([three_halves], name="bad_length")
missing_key = Pipeline([async_bounds], name="missing_key")


# -- nested pipelines --------------------------------------------------------------------------


@stage
def clean(raw: str) -> str:
    return raw.strip()


@stage
def shout(clean: str, suffix: str = "!") -> str:
    return clean.upper() + suffix


@stage
def count_words(clean: str) -> int:
    return len(clean.split())


@stage
def source(text: str) -> str:
    return f"  {text}  "


@stage
def report(prep: dict[str, object]) -> str:
    return f"{prep['shout']} ({prep['count_words']} words)"


@stage
def fails_inside(clean: str) -> str:
    raise RuntimeError("inner failure")


@stage
def after_inner(prep: dict[str, object]) -> str:
    return "unreachable"


inner = Pipeline([clean, shout, count_words], name="inner")
outer = Pipeline([source, inner.as_stage("prep", inputs={"raw": "source"}), report], name="outer")
failing_inner = Pipeline([clean, fails_inside], name="failing_inner")
failing_outer = Pipeline(
    [source, failing_inner.as_stage("prep", inputs={"raw": "source"}), after_inner],
    name="failing_outer",
)
