"""Concurrency limits: what a bad limit says (before anything runs) and ``--limit`` through
the real CLI. The limits themselves, on every executor, are in ``contract/test_limits.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipelines import flowkit, target

from flowkit import InvalidLimitError, Pipeline, PipelineDefinitionError, stage


@stage(tags={"database"})
def query() -> int:
    return 1


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"database": 0}, "the limit of tag 'database' must be an int >= 1, got 0"),
        ({"database": "2"}, "the limit of tag 'database' must be an int >= 1, got '2'"),
        ({"database": True}, "must be an int >= 1, got True"),
        ({"databse": 2}, "no stage carries the tag 'databse' of limits (did you mean 'database'?)"),
    ],
)
def test_a_bad_limit_is_a_definition_error_before_any_event(
    limits: Any, message: str, events: list[dict[str, Any]]
) -> None:
    with pytest.raises(InvalidLimitError) as raised:
        Pipeline([query]).run(limits=limits)

    assert isinstance(raised.value, PipelineDefinitionError)
    assert isinstance(raised.value, ValueError)
    assert message in str(raised.value)
    assert events == []


def test_a_bad_pipeline_limit_fails_when_the_pipeline_is_made() -> None:
    with pytest.raises(InvalidLimitError, match="must be an int >= 1, got -1"):
        Pipeline([query], limits={"database": -1})


@pytest.mark.parametrize(("limit", "peak"), [("db=1", "1"), ("db=2", "2")])
def test_cli_limit_bounds_the_tagged_stages(tmp_path: Path, limit: str, peak: str) -> None:
    done = flowkit(
        "run", target("limited"), "--limit", limit, env={"LIMITED_PEAK": str(tmp_path / "peak")}
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "peak").read_text() == peak


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("db", "Error: Invalid value for '--limit': 'db' is not TAG=N"),
        ("db=0", "Error: Invalid value for '--limit': 'db=0' is not TAG=N"),
        ("db=x", "Error: Invalid value for '--limit': 'db=x' is not TAG=N"),
        ("dv=2", "Error: Invalid value for '--limit': no stage carries the tag 'dv'"),
    ],
)
def test_cli_limit_errors_are_one_line_usage_errors(value: str, message: str) -> None:
    done = flowkit("run", target("limited"), "--limit", value)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(message), done.stderr
