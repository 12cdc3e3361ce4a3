"""``flowkit graph`` beyond text: each kind of stage drawn distinctly in Mermaid and DOT, SVG
and PNG through Graphviz's real ``dot``, the one-line error when ``dot`` is not on PATH (a
real subprocess with such a PATH), and ``Pipeline._repr_svg_`` for Jupyter."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from pipelines import flowkit

from flowkit import ParallelStage, Pipeline, stage

ROOT = Path(__file__).resolve().parent.parent
NIGHTLY = f"{ROOT / 'examples' / 'nightly.py'}:pipeline"
# CI sets FLOWKIT_REQUIRE_TOOLS=1: there these tests must run (and fail without Graphviz).
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and os.environ.get("FLOWKIT_REQUIRE_TOOLS") != "1",
    reason="needs Graphviz: apt-get install graphviz (.ci/run does)",
)


def kinds() -> Pipeline:
    @stage
    def plain(source: str) -> list[int]:
        return [1]

    @stage(map_over="plain")
    def fanned(plain: int) -> int:
        return plain

    @stage(when=lambda fanned: bool(fanned))
    def maybe(fanned: list[int]) -> int:
        return 1

    @stage(cache=True)
    def kept(plain: list[int]) -> int:
        return 1

    def child_a(kept: int) -> int:
        return kept

    def child_b(kept: int) -> int:
        return kept

    return Pipeline([plain, fanned, maybe, kept, ParallelStage("group", [child_a, child_b])])


def test_mermaid_draws_each_kind_with_its_own_shape_and_class() -> None:
    lines = kinds().to_mermaid().splitlines()

    assert '    input_source(["source"])' in lines
    assert '    plain["plain"]' in lines
    assert '    fanned[/"fanned<br/>map_over plain"\\]' in lines
    assert '    maybe{{"maybe<br/>when ..."}}' in lines
    assert '    kept[("kept<br/>cache")]' in lines
    assert '    group[["group<br/>parallel: child_a, child_b"]]' in lines
    for kind, node in [("map_over", "fanned"), ("conditional", "maybe"), ("cache", "kept"),
                       ("parallel", "group"), ("input", "input_source")]:  # fmt: skip
        assert f"    class {node} {kind}" in lines
        assert any(line.startswith(f"    classDef {kind} ") for line in lines)


def test_dot_draws_each_kind_with_its_own_shape() -> None:
    text = kinds().to_dot()

    assert '"input:source" [label="source", shape=ellipse, style=dashed];' in text
    assert '"fanned" [label="fanned\\nmap_over plain", shape=box3d' in text
    assert '"maybe" [label="maybe\\nwhen ...", shape=hexagon' in text
    assert '"kept" [label="kept\\ncache", shape=cylinder' in text
    assert '"group" [label="group\\nparallel: child_a, child_b", shape=box, peripheries=2' in text
    assert '"plain" [label="plain", shape=box, style="rounded,filled"' in text


def test_names_with_quotes_stay_inside_their_labels() -> None:
    odd = Pipeline([stage(name='say "hi"')(lambda: 1)])

    assert '[label="say \\"hi\\""' in odd.to_dot()
    assert '["say #quot;hi#quot;"]' in odd.to_mermaid()


@needs_dot
def test_svg_on_stdout(tmp_path: Path) -> None:
    done = flowkit("graph", NIGHTLY, "--format", "svg")

    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("<?xml")
    assert "<svg" in done.stdout
    assert done.stdout.rstrip().endswith("</svg>")
    for name in ("days", "sales", "totals", "alert", "charts", "summary", "publish", "archive"):
        assert f">{name}</text>" in done.stdout
    assert "map_over days" in done.stdout


@needs_dot
def test_png_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "dag.png"
    done = flowkit("graph", NIGHTLY, "--format", "png", "-o", out)

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300
    assert height > 300


@needs_dot
def test_text_formats_can_go_to_a_file_too(tmp_path: Path) -> None:
    out = tmp_path / "dag.mmd"
    done = flowkit("graph", NIGHTLY, "-o", out)

    assert (done.returncode, done.stdout) == (0, "")
    assert out.read_text().startswith("%% pipeline nightly\nflowchart TD\n")


def test_without_dot_on_path_images_are_one_clear_line() -> None:
    # Only the Python interpreter's own directory: no Graphviz on this PATH.
    path = str(Path(sys.executable).parent)
    assert shutil.which("dot", path=path) is None
    for fmt in ("svg", "png"):
        done = flowkit("graph", NIGHTLY, "--format", fmt, env={"PATH": path})

        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"Error: --format {fmt} needs Graphviz's `dot` program on PATH: install Graphviz "
            "(`apt-get install graphviz`, `brew install graphviz`, or "
            "https://graphviz.org/download/) or use --format mermaid or dot\n"
        )
    assert flowkit("graph", NIGHTLY, "--format", "dot", env={"PATH": path}).returncode == 0


def test_an_unwritable_output_is_a_usage_error(tmp_path: Path) -> None:
    done = flowkit("graph", NIGHTLY, "-o", tmp_path / "no" / "such" / "dir.mmd")

    assert done.returncode == 2
    assert done.stderr.startswith("Error: Invalid value for '--output': cannot write ")


@needs_dot
def test_jupyter_gets_svg_when_graphviz_is_there() -> None:
    svg = kinds()._repr_svg_()

    assert svg is not None
    assert svg.lstrip().startswith("<?xml")
    assert "<svg" in svg
    assert ">group</text>" in svg


def test_jupyter_falls_back_quietly_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert shutil.which("dot") is None

    assert kinds()._repr_svg_() is None
    assert repr(kinds()).startswith("Pipeline(")
    assert os.environ["PATH"] == str(Path(sys.executable).parent)
