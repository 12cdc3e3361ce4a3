"""``flowkit cache info DIR`` and ``flowkit cache clear DIR [--stage NAME]``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowkit import Pipeline, stage
from flowkit._cache.files import KEY_FILE, stage_dirname
from flowkit.cli._cache import cache


@stage(cache=True)
def first(x: int) -> str:
    return "a" * x


@stage(cache=True)
def second(first: str) -> str:
    return first * 2


@stage(cache=True, map_over="item")
def items(item: int) -> int:
    return item


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A cache directory holding 2 entries of ``first``, 2 of ``second``, 3 of ``items``."""
    directory = tmp_path / "cache"
    pipeline = Pipeline([first, second, items])
    for x in (1, 1000):
        pipeline.run({"x": x, "item": [1, 2, 3]}, cache=directory)
    return directory


def _size(directory: Path, name: str) -> int:
    return sum(p.stat().st_size for p in (directory / stage_dirname(name)).glob("*.pkl"))


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cache, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestInfo:
    def test_lists_entries_and_size_per_stage_and_the_total(self, filled: Path) -> None:
        code, out, _ = _invoke("info", str(filled))

        sizes = {name: _size(filled, name) for name in ("first", "items", "second")}
        total = sum(sizes.values())
        assert code == 0
        assert out == (
            f"cache {filled}\n"
            "stage    entries        size\n"
            f"first          2  {_human(sizes['first']):>10}\n"
            f"items          3  {_human(sizes['items']):>10}\n"
            f"second         2  {_human(sizes['second']):>10}\n"
            f"total          7  {_human(total):>10}\n"
        )
        assert 2000 < total < 4000  # two 1000-byte strings, doubled

    def test_reports_temporary_files_left_by_interrupted_writes(self, filled: Path) -> None:
        (filled / "first" / ".abc.tmp").write_bytes(b"x" * 2048)

        code, out, _ = _invoke("info", str(filled))

        assert code == 0
        assert out.splitlines()[-1] == (
            "1 temporary file (2.0 KiB) left by interrupted writes; "
            "`flowkit cache clear` removes them"
        )

    def test_an_empty_cache_has_no_entries(self, tmp_path: Path) -> None:
        Pipeline([first]).run({"x": 1}, cache=tmp_path / "empty")
        for entry in (tmp_path / "empty" / "first").iterdir():
            entry.unlink()

        code, out, _ = _invoke("info", str(tmp_path / "empty"))

        assert (code, out) == (0, f"cache {tmp_path / 'empty'}\nno entries\n")

    def test_a_missing_directory_is_a_usage_error(self, tmp_path: Path) -> None:
        code, _, err = _invoke("info", str(tmp_path / "nowhere"))

        assert code == 2
        assert err == f"Error: no cache directory at {tmp_path / 'nowhere'}\n"
        assert not (tmp_path / "nowhere").exists()

    def test_a_directory_that_is_not_a_cache_is_a_usage_error(self, tmp_path: Path) -> None:
        code, _, err = _invoke("info", str(tmp_path))

        assert code == 2
        assert "is not a flowkit cache" in err
        assert not (tmp_path / KEY_FILE).exists()


class TestClear:
    def test_one_stage(self, filled: Path) -> None:
        size = _size(filled, "second")

        code, out, _ = _invoke("clear", str(filled), "--stage", "second")

        assert (code, out) == (0, f"removed 2 entries ({_human(size)})\n")
        assert sorted(p.name for p in filled.iterdir()) == [KEY_FILE, "first", "items"]

    def test_several_stages(self, filled: Path) -> None:
        code, out, _ = _invoke("clear", str(filled), "--stage", "first", "--stage", "items")

        assert code == 0
        assert out.startswith("removed 5 entries")
        assert sorted(p.name for p in filled.iterdir()) == [KEY_FILE, "second"]

    def test_everything_but_the_key_and_leftover_temporary_files(self, filled: Path) -> None:
        (filled / "items" / ".abc.tmp").write_bytes(b"partial")
        key = (filled / KEY_FILE).read_bytes()

        code, out, _ = _invoke("clear", str(filled))

        assert code == 0
        assert out.splitlines() == [
            out.splitlines()[0],
            "removed 1 temporary file left by interrupted writes",
        ]
        assert out.startswith("removed 7 entries (")
        assert sorted(p.name for p in filled.iterdir()) == [KEY_FILE]
        assert (filled / KEY_FILE).read_bytes() == key

    def test_a_misspelt_stage_removes_nothing_and_suggests_the_name(self, filled: Path) -> None:
        code, out, err = _invoke("clear", str(filled), "--stage", "secnd")

        assert (code, out) == (0, "removed 0 entries (0 B)\n")
        assert err == "no entries for stage 'secnd' (did you mean 'second'?)\n"
        assert len(list(filled.rglob("*.pkl"))) == 7

    def test_a_directory_that_is_not_a_cache_is_left_alone(self, tmp_path: Path) -> None:
        data = tmp_path / "stage"
        data.mkdir()
        (data / ("0" * 64 + ".pkl")).write_bytes(b"precious")

        code, _, err = _invoke("clear", str(tmp_path))

        assert code == 2
        assert err.startswith(f"Error: {tmp_path} is not a flowkit cache")
        assert (data / ("0" * 64 + ".pkl")).read_bytes() == b"precious"


def _cached_stages(json_lines: str) -> list[str]:
    events = [json.loads(line) for line in json_lines.splitlines() if line.startswith("{")]
    return [e["stage"] for e in events if e["event"] == "stage.succeeded" and e.get("cached")]


def _human(nbytes: int) -> str:
    return f"{nbytes} B" if nbytes < 1024 else f"{nbytes / 1024:.1f} KiB"


def _flowkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "flowkit", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless ``python -m flowkit`` has the ``cache`` command."""
    probe = _flowkit("cache", "--help", cwd=tmp_path_factory.mktemp("probe"))
    if probe.returncode != 0:
        pytest.skip(f"flowkit.cli does not register `flowkit cache` yet: {probe.stderr.strip()}")


@pytest.mark.usefixtures("registered")
class TestCommandLine:
    def test_run_twice_then_info_and_clear(self, tmp_path: Path) -> None:
        (tmp_path / "cached_flow.py").write_text(
            textwrap.dedent(
                """
                from flowkit import Pipeline, stage

                @stage(cache=True)
                def double(x: int) -> int:
                    return 2 * x

                @stage(cache=True)
                def label(double: int) -> str:
                    return f"n={double}"

                pipeline = Pipeline([double, label], name="cached")
                """
            )
        )
        directory = tmp_path / "cache"
        run = ("run", "cached_flow:pipeline", "-i", "x=21", "--cache", str(directory))
        runs = [_flowkit(*run, "--log-format", "json", cwd=tmp_path) for _ in range(2)]

        info = _flowkit("cache", "info", str(directory), cwd=tmp_path)
        cleared = _flowkit("cache", "clear", str(directory), "--stage", "label", cwd=tmp_path)
        after = _flowkit("cache", "info", str(directory), cwd=tmp_path)

        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
        assert [_cached_stages(r.stderr) for r in runs] == [[], ["double", "label"]]
        assert info.returncode == 0
        assert [line.split()[:2] for line in info.stdout.splitlines()[2:]] == [
            ["double", "1"],
            ["label", "1"],
            ["total", "2"],
        ]
        assert (cleared.returncode, cleared.stdout.split()[:3]) == (0, ["removed", "1", "entry"])
        assert [line.split()[:2] for line in after.stdout.splitlines()[2:]] == [
            ["double", "1"],
            ["total", "1"],
        ]

    def test_a_directory_writable_by_others_is_refused_with_exit_code_2(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "flow.py").write_text(
            "from flowkit import stage\n\n@stage(cache=True)\ndef one() -> int:\n    return 1\n"
        )
        directory = tmp_path / "shared"
        directory.mkdir()
        directory.chmod(0o777)

        refused = _flowkit("run", "flow", "--cache", str(directory), cwd=tmp_path)

        assert refused.returncode == 2
        assert f"chmod 700 {directory}" in refused.stderr
        assert "Traceback" not in refused.stderr

    def test_info_on_something_else_exits_2_with_one_line(self, tmp_path: Path) -> None:
        result = _flowkit("cache", "info", str(tmp_path), cwd=tmp_path)

        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"Error: {tmp_path} is not a flowkit cache (it has no {KEY_FILE}); nothing was touched"
        ]
