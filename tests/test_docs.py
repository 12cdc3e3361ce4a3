"""The docs cannot go stale: every ```python block of README.md and docs/*.md runs, the
events reference matches the events flowkit really emits, the API page covers the public
API, and ``mkdocs build --strict`` passes."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import types
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import flowkit
from flowkit import Pipeline, stage
from flowkit._events import EVENTS
from flowkit.executors import Completion, call_stage

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SKIP_MARK = "<!-- skip-test -->"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a markdown file."""

    path: Path
    number: int  # 1-based, counting the blocks of this language only
    line: int  # 1-based line of the block's first line of code
    info: str
    code: str
    skip: bool

    @property
    def where(self) -> str:
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        return (
            f"{shown}, {self.info} block {self.number} "
            f"(line {self.line}), starting {first.strip()!r}"
        )


def code_blocks(path: Path, language: str) -> list[Block]:
    """The fenced blocks of ``path`` whose info string starts with ``language``; a block
    right after a ``<!-- skip-test -->`` line is marked ``skip``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        info = opening["info"].strip().split(" ", 1)[0]
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:])
            index += 1
        if info == language:
            blocks.append(
                Block(
                    path,
                    len(blocks) + 1,
                    index - len(body) + 1,
                    info,
                    "\n".join(body) + "\n",
                    previous == SKIP_MARK,
                )
            )
        previous = ""
        index += 1
    return blocks


@pytest.fixture
def clean_structlog() -> Iterator[None]:
    """structlog as a user has it before configuring anything; restored afterwards."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


def _module_for(path: Path, directory: Path) -> types.ModuleType:
    name = "docs_" + re.sub(r"\W", "_", path.stem.lower())
    module = types.ModuleType(name)
    module.__file__ = str(directory / f"{name}.py")
    return module


WITH_PYTHON = [path for path in DOC_FILES if code_blocks(path, "python")]


@pytest.mark.parametrize("path", WITH_PYTHON, ids=[p.name for p in WITH_PYTHON])
@pytest.mark.usefixtures("clean_structlog")
def test_python_blocks_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = code_blocks(path, "python")
    monkeypatch.chdir(tmp_path)
    module = _module_for(path, tmp_path)
    # A real module, so Pipeline.from_module(__name__) and pickling by name work in blocks.
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks:
        if block.skip:  # it cannot run here, but it must still be valid Python
            compile(block.code, block.where, "exec", dont_inherit=True)
            continue
        # Pad with blank lines so tracebacks show the line numbers of the markdown file;
        # dont_inherit: this test module's `from __future__ import annotations` must not
        # turn the block's annotations into strings.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(path), "exec", dont_inherit=True)
        failure = None
        try:
            exec(code, module.__dict__)  # noqa: S102 - the docs' own examples
        except BaseException as error:  # reported below, with the block's location
            failure = error
        if failure is not None:
            pytest.fail(
                f"{block.where} raised {type(failure).__name__}: {failure}\n\n"
                + "".join(traceback.format_exception(failure)),
                pytrace=False,
            )
    capsys.readouterr()  # blocks may print; a passing run keeps the test output quiet


def test_code_blocks_finds_blocks_lines_and_skip_marks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nx = 1\n```\n\n<!-- skip-test -->\n```python\nremote()\n```\n"
        "\n```console\n$ flowkit run\n```\n\n- item:\n\n    ```python\n    y = 2\n    ```\n",
        encoding="utf-8",
    )

    blocks = code_blocks(page, "python")

    assert [(b.number, b.line, b.code, b.skip) for b in blocks] == [
        (1, 4, "x = 1\n", False),
        (2, 9, "remote()\n", True),
        (3, 19, "y = 2\n", False),
    ]
    assert blocks[0].where == "page.md, python block 1 (line 4), starting 'x = 1'"


# -- the events reference -------------------------------------------------------------------

EVENTS_PAGE = DOCS / "events.md"


def _documented_keys() -> set[str]:
    """Keys listed in the first column of the keys table of events.md."""
    text = EVENTS_PAGE.read_text(encoding="utf-8")
    section = text.split("## Keys", 1)[1].split("\n## ", 1)[0]
    return {
        key
        for line in section.splitlines()
        if line.startswith("| `")
        for key in re.findall(r"`(\w+)`", line.split("|")[1])
    }


def _example_lines() -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for block in code_blocks(EVENTS_PAGE, "json")
        for line in block.code.splitlines()
        if line.strip()
    ]


def test_events_page_shows_a_real_line_for_every_event() -> None:
    examples = _example_lines()
    shown = {line["event"] for line in examples}

    assert shown == set(EVENTS)
    for line in examples:
        assert {"run_id", "pipeline", "status", "event"} <= set(line), line
        assert set(line) <= _documented_keys(), (line["event"], set(line) - _documented_keys())


class InlineExecutor:
    """The smallest executor object: runs each call at once, in this thread, and says
    where it ran (so the events carry ``worker``)."""

    def __init__(self) -> None:
        self.done: list[Completion] = []

    def start(self, max_workers: int | None) -> int:
        return 1

    def submit(self, key: Hashable, stage: flowkit.Stage, kwargs: dict[str, Any]) -> None:
        try:
            completion = Completion(key, ok=True, value=call_stage(stage, kwargs), worker="inline")
        except Exception as error:  # reported as the call's failure
            completion = Completion(key, ok=False, value=error, worker="inline")
        self.done.append(completion)

    def wait(self, timeout: float | None) -> list[Completion]:
        done, self.done = self.done, []
        return done

    def cancel(self, key: Hashable) -> None:
        """Calls finish in submit(): nothing is ever running."""

    def shutdown(self) -> None:
        """Nothing to release."""


def _emit_every_event(cache_dir: Path) -> list[dict[str, Any]]:
    """Run small pipelines that between them emit every event flowkit has."""

    def failing_hook(result: flowkit.StageResult) -> None:
        raise RuntimeError("hook broke")

    @stage
    def load() -> list[int]:
        return [1]

    @stage(retries=1, on_failure=failing_hook)
    def transform(load: list[int]) -> int:
        raise ValueError("bad row")

    @stage
    def publish(transform: int) -> int:
        return transform

    @stage(when=lambda load: not load)
    def empty_report(load: list[int]) -> str:
        return "empty"

    tries: dict[int, int] = {}

    @stage(map_over="items", retries=1)
    def per_item(items: int) -> int:
        tries[items] = tries.get(items, 0) + 1
        if tries[items] == 1:
            raise ConnectionError("flaky")
        return items

    @stage(cache=True)
    def cached(load: list[int]) -> int:
        return len(load)

    started = asyncio.Event()

    @stage
    async def endless() -> None:
        started.set()
        await asyncio.sleep(60)

    async def cancel_a_run() -> None:
        task = asyncio.create_task(Pipeline([endless]).run_async())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_logs() as logs:
        Pipeline([load, transform, publish, empty_report], fail_fast=False).run()
        Pipeline([load, transform], fail_fast=False).run(executor=InlineExecutor())
        Pipeline([per_item]).run({"items": [1, 2]})
        Pipeline([load, cached]).run(cache=cache_dir)
        Pipeline([load, cached]).run(cache=cache_dir)
        asyncio.run(cancel_a_run())
    return [log for log in logs if log.get("event") in EVENTS]


def test_every_key_flowkit_emits_is_documented(tmp_path: Path) -> None:
    emitted = _emit_every_event(tmp_path)
    keys = {key for log in emitted for key in log} - {"log_level"}  # capture_logs adds it

    # Only a Dask cluster losing a worker emits stage.worker_lost (tests/test_dask_workers.py).
    assert {log["event"] for log in emitted} == set(EVENTS) - {"stage.worker_lost"}
    assert keys - _documented_keys() == set()


def test_every_event_name_is_documented() -> None:
    text = EVENTS_PAGE.read_text(encoding="utf-8")

    assert [name for name in EVENTS if f"`{name}`" not in text] == []


# -- the API page and the site --------------------------------------------------------------


def test_api_page_covers_the_public_api() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: flowkit\.(\w+)", text, re.MULTILINE))

    missing = set(flowkit.__all__) - {"__version__"} - documented
    assert missing == set(), f"add '::: flowkit.NAME' to docs/api.md for {sorted(missing)}"


def test_nav_lists_every_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", config, re.MULTILINE))

    assert {path.name for path in DOCS.glob("*.md")} == listed


@pytest.mark.slow
def test_mkdocs_build_strict_passes() -> None:
    if importlib.util.find_spec("mkdocs") is None or shutil.which("mkdocs") is None:
        pytest.skip('mkdocs is not installed: pip install -e ".[docs]"')
    with tempfile.TemporaryDirectory() as site:
        process = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=110,
            check=False,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
    warnings = [line for line in process.stderr.splitlines() if "WARNING" in line]
    assert process.returncode == 0, "\n".join(warnings) or process.stderr[-3000:]
