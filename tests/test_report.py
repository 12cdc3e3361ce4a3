"""The HTML run report (flowkit._report) built from event logs: retries, skips,
cancellations, cache hits, map_over items, a parallel group and a killed run; escaping, no
values, no network references; and its size and speed at 1,000 stages."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pipelines import flowkit, target

from flowkit import ParallelStage, Pipeline, stage
from flowkit._report import render_html
from flowkit._runlog import RunRecord, read_log


def event(seconds: float, name: str, **fields: Any) -> str:
    record = {
        "timestamp": f"2026-01-02T03:04:{seconds:06.3f}Z",
        "level": "info",
        "event": name,
        "run_id": "r1",
        "pipeline": "demo",
        **fields,
    }
    return json.dumps(record)


def run_of(tmp_path: Path, lines: list[str]) -> RunRecord:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    runs, _ = read_log(path)
    return next(iter(runs.values()))


class Page(HTMLParser):
    """What a report shows, per part: ``data-stage`` elements with their classes, and text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.where: list[str] = []
        self.stages: dict[str, dict[str, list[str]]] = {"dag": {}, "timeline": {}, "table": {}}
        self.texts: list[str] = []
        self.titles: list[str] = []
        self._in = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "svg":
            self.where.append(classes[0])
        elif tag == "table":
            self.where.append("table")
        self._in = tag
        name = found.get("data-stage")
        if name is not None and self.where:
            self.stages[self.where[-1]][name] = classes

    def handle_endtag(self, tag: str) -> None:
        if tag in {"svg", "table"}:
            self.where.pop()
        self._in = ""

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.titles.append(data)
        elif self._in != "style":
            self.texts.append(data if self._in == "pre" else data.strip())

    @property
    def text(self) -> str:
        return " ".join(text for text in self.texts if text)


RETRIED_AND_FAILED = [
    event(0.0, "pipeline.started", status="running", stages=4,
          dependencies={"load": [], "clean": ["load"], "report": ["clean"], "publish": ["clean"]}),
    event(0.5, "stage.succeeded", stage="load", status="success", attempt=0, duration_s=0.0,
          cached=True),
    event(0.5, "stage.started", stage="clean", status="running", attempt=1),
    event(1.0, "stage.retrying", stage="clean", status="running", attempt=1, delay_s=0.5,
          error_type="TimeoutError", error="slow disk",
          exception='Traceback (most recent call last):\n  File "x.py", line 3\n'
                    "TimeoutError: slow disk\n"),
    event(1.5, "stage.started", stage="clean", status="running", attempt=2),
    event(2.0, "stage.failed", stage="clean", status="failed", attempt=2, duration_s=1.5,
          error_type="KeyError", error="'amount' <missing>",
          exception='Traceback (most recent call last):\n  File "clean.py", line 9, in clean\n'
                    "KeyError: 'amount'\n"),
    event(2.0, "stage.skipped", stage="report", status="skipped", reason="condition is false"),
    event(2.0, "stage.cancelled", stage="publish", status="cancelled",
          reason="dependency 'clean' failed"),
    event(2.0, "pipeline.failed", status="failed", duration_s=2.0, succeeded=1, failed=1,
          skipped=1, cancelled=1),
]  # fmt: skip


def test_every_stage_is_in_the_dag_the_timeline_and_the_table(tmp_path: Path) -> None:
    page = Page(render_html(run_of(tmp_path, RETRIED_AND_FAILED)))

    names = ["load", "clean", "report", "publish"]
    for part in ("dag", "timeline", "table"):
        assert sorted(page.stages[part]) == sorted(names), part
    assert "s-failed" in page.stages["dag"]["clean"]
    assert "s-skipped" in page.stages["dag"]["report"]
    assert "s-cancelled" in page.stages["dag"]["publish"]
    assert {"s-success", "cached"} <= set(page.stages["dag"]["load"])


def test_the_header_has_pipeline_run_status_totals_and_duration(tmp_path: Path) -> None:
    page = Page(render_html(run_of(tmp_path, RETRIED_AND_FAILED)))

    assert page.text.startswith("demo failed run r1")
    for words in ("1 succeeded", "1 failed", "1 skipped", "1 cancelled", "2.00s failed in"):
        assert words in page.text, words


def test_retries_show_each_attempt_its_delay_and_its_traceback(tmp_path: Path) -> None:
    html = render_html(run_of(tmp_path, RETRIED_AND_FAILED))
    page = Page(html)

    bars = re.findall(r'<rect class="bar a-(\w+)"', html)
    assert bars == ["retrying", "failed"]  # the cached load has a marker, not a bar
    assert "retry delay 500.0ms" in page.titles
    assert "attempt 1 failed: TimeoutError: slow disk (retried after 500.0ms)" in page.text
    assert "KeyError: 'amount' <missing>" in page.text  # the message, escaped
    assert "KeyError: &#x27;amount&#x27; &lt;missing&gt;" in html
    assert 'File "clean.py", line 9, in clean' in page.text
    assert "TimeoutError: slow disk\n" in page.text  # the retried attempt's traceback too


def test_skips_cancellations_and_cache_hits_are_markers_with_reasons(tmp_path: Path) -> None:
    html = render_html(run_of(tmp_path, RETRIED_AND_FAILED))
    page = Page(html)

    markers = re.findall(r'<text class="marker m-(\w+)"', html)
    assert markers == ["cached", "skipped", "cancelled"]
    assert "report: skipped: condition is false" in page.titles
    assert "publish: cancelled: dependency 'clean' failed" in page.titles
    assert "load: cache hit" in page.titles


MAPPED = [
    event(0.0, "pipeline.started", stages=2, dependencies={"urls": [], "fetch": ["urls"]}),
    event(0.0, "stage.started", stage="urls", status="running", attempt=1),
    event(0.1, "stage.succeeded", stage="urls", status="success", attempt=1, duration_s=0.1),
    event(0.1, "stage.started", stage="fetch", status="running", attempt=1),
    event(0.2, "stage.succeeded", stage="fetch", status="success", attempt=0, item=0, items=3,
          duration_s=0.0, cached=True),
    event(0.3, "stage.retrying", stage="fetch", status="running", attempt=1, item=1,
          delay_s=0.1, error_type="ConnectionError", error="reset"),
    event(0.4, "stage.succeeded", stage="fetch", status="success", attempt=1, item=2, items=3,
          duration_s=0.3),
    event(0.6, "stage.succeeded", stage="fetch", status="success", attempt=2, item=1, items=3,
          duration_s=0.5),
    event(0.6, "stage.succeeded", stage="fetch", status="success", attempt=2, duration_s=0.5),
    event(0.6, "pipeline.succeeded", duration_s=0.6, succeeded=2, failed=0, skipped=0,
          cancelled=0),
]  # fmt: skip


def test_map_over_items_are_summarised_not_drawn_as_attempts(tmp_path: Path) -> None:
    run = run_of(tmp_path, MAPPED)
    html = render_html(run)
    page = Page(html)

    assert run.stages["fetch"].history[0].status == "success"  # one call, ended by the stage
    assert re.findall(r'<rect class="bar a-(\w+)"', html) == ["success", "success"]
    assert "3/3 items (1 retries, 1 cached)" in page.text
    assert "map_over: 3/3 items done, 3 succeeded, 0 failed, 1 cached, 1 retries" in page.text


def test_a_parallel_groups_children_are_drawn_beside_the_dag(tmp_path: Path) -> None:
    lines = [
        event(0.0, "pipeline.started", stages=2, dependencies={"base": [], "powers": ["base"]}),
        event(0.0, "stage.started", stage="base", status="running", attempt=1),
        event(0.1, "stage.succeeded", stage="base", status="success", attempt=1, duration_s=0.1),
        event(0.1, "stage.started", stage="powers", status="running", attempt=1),
        event(0.1, "stage.started", stage="square", status="running", attempt=1),
        event(0.1, "stage.started", stage="cube", status="running", attempt=1),
        event(0.3, "stage.succeeded", stage="square", status="success", attempt=1, duration_s=0.2),
        event(0.4, "stage.failed", stage="cube", status="failed", attempt=1, duration_s=0.3,
              error_type="OverflowError", error="too big"),
        event(0.4, "stage.failed", stage="powers", status="failed", attempt=1, duration_s=0.3,
              error_type="OverflowError", error="too big"),
        event(0.4, "pipeline.failed", duration_s=0.4, succeeded=1, failed=1, skipped=0,
              cancelled=0),
    ]  # fmt: skip
    page = Page(render_html(run_of(tmp_path, lines)))

    assert sorted(page.stages["dag"]) == ["base", "cube", "powers", "square"]
    assert "in the log, not in its DAG (parallel group children)" in page.text
    assert "s-failed" in page.stages["dag"]["cube"]
    assert sorted(page.stages["timeline"]) == ["base", "cube", "powers", "square"]


def test_a_killed_run_shows_what_was_running_and_what_never_started(tmp_path: Path) -> None:
    lines = [
        event(0.0, "pipeline.started", stages=3,
              dependencies={"quick": [], "slow": ["quick"], "final": ["slow"]}),
        event(0.0, "stage.started", stage="quick", status="running", attempt=1),
        event(0.1, "stage.succeeded", stage="quick", status="success", attempt=1, duration_s=0.1),
        event(0.1, "stage.started", stage="slow", status="running", attempt=1),
    ]  # fmt: skip
    html = render_html(run_of(tmp_path, lines))
    page = Page(html)

    assert page.text.startswith("demo unfinished run r1")
    assert "The log ends before the pipeline did" in page.text
    assert "still running: slow" in page.text
    assert "1 stage(s) never appear in the log" in page.text
    assert "s-running" in page.stages["dag"]["slow"]
    assert "s-pending" in page.stages["dag"]["final"]
    assert sorted(page.stages["timeline"]) == ["final", "quick", "slow"]
    assert 'class="bar a-running"' in html
    assert "never started (not in the log)" in page.text


def test_a_log_without_dependencies_still_shows_every_stage(tmp_path: Path) -> None:
    lines = [line for line in RETRIED_AND_FAILED if "dependencies" not in line]
    lines.insert(0, event(0.0, "pipeline.started", stages=4))
    page = Page(render_html(run_of(tmp_path, lines)))

    assert sorted(page.stages["dag"]) == ["clean", "load", "publish", "report"]
    assert "this log does not record the DAG" in page.text


def test_names_and_messages_are_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    lines = [
        event(0.0, "pipeline.started", stages=1, dependencies={evil: []}, pipeline=evil),
        event(0.0, "stage.started", stage=evil, status="running", attempt=1, pipeline=evil),
        event(0.1, "stage.failed", stage=evil, status="failed", attempt=1, duration_s=0.1,
              error_type="ValueError", error=evil, exception=evil, pipeline=evil),
    ]  # fmt: skip
    html = render_html(run_of(tmp_path, lines))

    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 5


def test_the_page_references_nothing_outside_itself(tmp_path: Path) -> None:
    html = render_html(run_of(tmp_path, RETRIED_AND_FAILED))

    assert re.findall(r"(?:src|href)\s*=", html) == []
    assert "url(" not in html.replace("url(#arrow-0)", "")
    assert "@import" not in html
    assert "<script" not in html
    assert "prefers-color-scheme: dark" in html


def test_no_input_or_output_value_reaches_the_report(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    flowkit("run", target("secret"), "-i", "password=hunter2-unique", "--log-file", log)
    report = tmp_path / "report.html"
    done = flowkit("inspect", log, "--html", report)

    assert (done.returncode, done.stdout) == (0, f"wrote {report} (1 run(s))\n")
    assert "hunter2" not in report.read_text()


def test_a_real_run_through_the_cli(tmp_path: Path) -> None:
    log, report = tmp_path / "run.jsonl", tmp_path / "report.html"
    flowkit("run", target("failing"), "--executor", "sequential", "--log-file", log)
    done = flowkit("inspect", log, "--html", report)
    page = Page(report.read_text())

    assert done.returncode == 0
    assert sorted(page.stages["dag"]) == ["after", "bad", "good", "late"]
    assert "ValueError: the data is bad" in page.text
    assert "s-failed" in page.stages["dag"]["bad"]


def test_an_unwritable_html_path_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    log.write_text("".join(line + "\n" for line in RETRIED_AND_FAILED))
    done = flowkit("inspect", log, "--html", tmp_path / "missing" / "r.html")

    assert done.returncode == 2
    assert done.stderr.startswith("Error: Invalid value for '--html': cannot write ")
    assert len(done.stderr.splitlines()) == 1


def wide_log(stages: int) -> list[str]:
    """A 1,000-stage run: a fan-in of chains, every tenth stage retried once."""
    names = [f"s{i:04d}" for i in range(stages)]
    deps = {name: [names[i - 1]] if i % 10 else [] for i, name in enumerate(names)}
    lines = [event(0.0, "pipeline.started", stages=stages, dependencies=deps)]
    for i, name in enumerate(names):
        t = i * 0.05
        lines.append(event(t, "stage.started", stage=name, status="running", attempt=1))
        if i % 10 == 0:
            retry = {"attempt": 1, "delay_s": 0.01, "error_type": "OSError", "error": "busy"}
            lines.append(event(t + 0.01, "stage.retrying", stage=name, status="running", **retry))
            lines.append(event(t + 0.02, "stage.started", stage=name, status="running", attempt=2))
        lines.append(event(t + 0.04, "stage.succeeded", stage=name, status="success",
                           attempt=1 + (i % 10 == 0), duration_s=0.04))  # fmt: skip
    lines.append(event(50.0, "pipeline.succeeded", duration_s=50.0, succeeded=stages, failed=0,
                       skipped=0, cancelled=0))  # fmt: skip
    return lines


def test_a_1000_stage_report_is_written_well_under_a_second(tmp_path: Path) -> None:
    run = run_of(tmp_path, wide_log(1000))

    start = time.perf_counter()
    html = render_html(run)
    took = time.perf_counter() - start
    page = Page(html)

    print(f"1,000-stage report: {took * 1000:.0f} ms, {len(html) / 1e6:.2f} MB")
    assert took < 1.0  # measured here: about 50 ms; loose for a busy machine
    assert len(page.stages["dag"]) == len(page.stages["timeline"]) == 1000
    assert len(html) < 5_000_000


def test_pipeline_started_carries_the_dag_and_items_report_their_end(
    events: list[dict[str, Any]],
) -> None:
    @stage
    def base() -> list[int]:
        return [1, 2, 3]

    @stage(map_over="base")
    def double(base: int) -> int:
        return base * 2

    def left(double: list[int]) -> int:
        return sum(double)

    def right(double: list[int]) -> int:
        return len(double)

    @stage(depends_on=["base"])
    def done(sides: dict[str, int]) -> int:
        return sides["left"]

    Pipeline([base, double, ParallelStage("sides", [left, right]), done]).run()

    started = next(e for e in events if e["event"] == "pipeline.started")
    assert started["dependencies"] == {
        "base": [],
        "double": ["base"],
        "sides": ["double"],
        "done": ["sides", "base"],
    }
    items = [(e["event"], e["item"], e["items"]) for e in events if "item" in e]
    assert sorted(items) == [("stage.succeeded", i, 3) for i in range(3)]
    final = [e for e in events if e.get("stage") == "double" and "item" not in e]
    assert [e["event"] for e in final] == ["stage.started", "stage.succeeded"]


def test_hook_failures_and_a_log_without_timestamps(tmp_path: Path) -> None:
    lines = [
        json.dumps({"event": e, "run_id": "r1", "pipeline": "demo", **f})
        for e, f in [
            ("pipeline.started", {"stages": 1, "dependencies": {"train": []}}),
            ("stage.started", {"stage": "train", "status": "running", "attempt": 1}),
            ("stage.succeeded", {"stage": "train", "status": "success", "attempt": 1}),
            ("stage.hook_failed", {"stage": "train", "status": "success", "hook": "ping",
                                   "error_type": "OSError", "error": "no route"}),
        ]
    ]  # fmt: skip
    page = Page(render_html(run_of(tmp_path, lines)))

    assert "ping failed: OSError: no route" in page.text
    assert "The log has no timestamps: no timeline." in page.text
    assert sorted(page.stages["dag"]) == ["train"]


def test_one_section_per_run_of_the_log(tmp_path: Path) -> None:
    log, report = tmp_path / "runs.jsonl", tmp_path / "runs.html"
    flowkit("run", target("basic"), "-i", "count=1", "--log-file", log)
    flowkit("run", target("failing"), "--log-file", log)
    done = flowkit("inspect", log, "--html", report)
    html = report.read_text()

    assert done.stdout == f"wrote {report} (2 run(s))\n"
    assert html.count('<section class="run"') == 2
    assert 'marker-end="url(#arrow-0)"' in html
    assert 'marker-end="url(#arrow-1)"' in html
