"""``flowkit run --refresh/--refresh-all`` and how ``list``/``graph`` show several outputs
and nested pipelines, through the real entry point in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines import flowkit, target


def _run(tmp_path: Path, *extra: str) -> dict[str, dict[str, object]]:
    out = tmp_path / "result.json"
    done = flowkit(
        "run", target("peers", "pipeline"), "-i", "n=9", "--cache", tmp_path / "cache",
        "--result-json", out, *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())["stages"]  # type: ignore[no-any-return]


def _cached(stages: dict[str, dict[str, object]]) -> dict[str, object]:
    return {
        name: s["cached"]
        for name, s in stages.items()
        if name in ("halves", "doubled", "sub.trimmed")
    }


def test_refresh_recomputes_exactly_the_named_stages(tmp_path: Path) -> None:
    _run(tmp_path)

    again = _run(tmp_path, "--refresh", "doubled", "--refresh", "sub")

    assert _cached(again) == {"halves": True, "doubled": False, "sub.trimmed": False}


def test_refresh_all_recomputes_every_cached_stage(tmp_path: Path) -> None:
    _run(tmp_path)

    again = _run(tmp_path, "--refresh-all")

    assert set(_cached(again).values()) == {False}
    assert again["sub"]["output"] == {"trimmed": 4}


def test_an_unknown_refresh_name_fails_before_anything_runs(tmp_path: Path) -> None:
    done = flowkit(
        "run",
        target("peers", "pipeline"),
        "-i",
        "n=9",
        "--cache",
        tmp_path / "cache",
        "--refresh",
        "doubld",
    )

    assert done.returncode != 0
    assert "unknown refresh 'doubld'" in done.stderr
    assert "did you mean 'doubled'" in done.stderr
    assert "stage.started" not in done.stderr


def test_list_shows_outputs_and_the_nesting() -> None:
    done = flowkit("list", target("peers", "pipeline"))

    assert done.returncode == 0, done.stderr
    lines = {
        line.split()[1]: line for line in done.stdout.splitlines() if line[:3].strip().isdigit()
    }
    assert "outputs=head,tail" in lines["halves"]
    assert "output of halves" in lines["head"]
    assert "in sub" in lines["sub.trimmed"]
    assert "nested pipeline: trimmed" in lines["sub"]


def test_graph_groups_nested_stages() -> None:
    mermaid = flowkit("graph", target("peers", "pipeline")).stdout
    dot = flowkit("graph", target("peers", "pipeline"), "--format", "dot").stdout

    assert 'subgraph nested_sub ["sub"]' in mermaid
    assert "halves --> head" in mermaid
    assert 'subgraph "cluster_sub"' in dot
