"""Structured events (DESIGN.md §4, §10)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flowkit import Pipeline, PipelineInterrupted, PipelineResult, StageContext, StageResult, stage

EVENT_NAMES = {
    "pipeline.started",
    "pipeline.succeeded",
    "pipeline.failed",
    "pipeline.cancelled",
    "stage.started",
    "stage.succeeded",
    "stage.failed",
    "stage.retrying",
    "stage.skipped",
    "stage.cancelled",
    "stage.hook_failed",
}
STAGE_STATUS = {
    "stage.started": "running",
    "stage.retrying": "running",
    "stage.succeeded": "success",
    "stage.failed": "failed",
    "stage.skipped": "skipped",
    "stage.cancelled": "cancelled",
}

Events = list[dict[str, Any]]


def named(events: Events, event: str, stage_name: str | None = None) -> Events:
    return [
        e
        for e in events
        if e["event"] == event and (stage_name is None or e.get("stage") == stage_name)
    ]


def trace(events: Events) -> list[tuple[str, str | None]]:
    return [(e["event"], e.get("stage")) for e in events]


def everything(pipeline_ok: bool = False) -> Pipeline:
    """A pipeline whose run emits every kind of event but ``pipeline.cancelled``."""

    def broken_hook(result: StageResult) -> None:
        raise RuntimeError("hook broke")

    @stage
    def load(source: str) -> list[int]:
        return [1, 2, 3]

    @stage(retries=1, on_success=broken_hook)
    def flaky(load: list[int], context: StageContext) -> int:
        if context.attempt == 1:
            raise ConnectionError("first try fails")
        return sum(load)

    @stage(when=lambda flaky: flaky > 100)
    def gated(flaky: int) -> int:
        return flaky

    @stage
    def bad(load: list[int]) -> int:
        if pipeline_ok:
            return 0
        raise ValueError("bad stage")

    @stage
    def after_bad(bad: int) -> int:
        return bad

    return Pipeline([load, flaky, gated, bad, after_bad], name="every", fail_fast=False)


@pytest.fixture
def run_everything(events: Events, executor: str) -> tuple[PipelineResult, Events]:
    result = everything().run({"source": "s"}, executor=executor)
    return result, events


class TestNamesAndTransitions:
    def test_only_documented_names(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        assert {e["event"] for e in events} == EVENT_NAMES - {
            "pipeline.succeeded",
            "pipeline.cancelled",
        }

    def test_simple_success_sequence(self, events: Events, executor: str) -> None:
        @stage
        def one() -> int:
            return 1

        @stage
        def two(one: int) -> int:
            return one + 1

        Pipeline([one, two], name="simple").run(executor=executor)

        assert trace(events) == [
            ("pipeline.started", None),
            ("stage.started", "one"),
            ("stage.succeeded", "one"),
            ("stage.started", "two"),
            ("stage.succeeded", "two"),
            ("pipeline.succeeded", None),
        ]

    def test_retry_sequence(self, events: Events, executor: str) -> None:
        @stage(retries=2)
        def flaky(context: StageContext) -> int:
            if context.attempt < 3:
                raise OSError("again")
            return 1

        Pipeline([flaky]).run(executor=executor)

        assert trace(events) == [
            ("pipeline.started", None),
            ("stage.started", "flaky"),
            ("stage.retrying", "flaky"),
            ("stage.started", "flaky"),
            ("stage.retrying", "flaky"),
            ("stage.started", "flaky"),
            ("stage.succeeded", "flaky"),
            ("pipeline.succeeded", None),
        ]
        assert [e["attempt"] for e in named(events, "stage.started")] == [1, 2, 3]
        assert [e["attempt"] for e in named(events, "stage.retrying")] == [1, 2]

    def test_failure_sequence(self, events: Events, executor: str) -> None:
        @stage
        def bad() -> None:
            raise ValueError("nope")

        @stage
        def child(bad: None) -> None:
            return None

        Pipeline([bad, child]).run(executor=executor)

        assert trace(events) == [
            ("pipeline.started", None),
            ("stage.started", "bad"),
            ("stage.failed", "bad"),
            ("stage.cancelled", "child"),
            ("pipeline.failed", None),
        ]

    def test_skip_sequence(self, events: Events, executor: str) -> None:
        @stage(when=lambda: False)
        def gated() -> int:
            return 1

        Pipeline([gated]).run(executor=executor)

        assert trace(events) == [
            ("pipeline.started", None),
            ("stage.skipped", "gated"),
            ("pipeline.succeeded", None),
        ]

    def test_one_terminal_event_per_stage(
        self, run_everything: tuple[PipelineResult, Events]
    ) -> None:
        result, events = run_everything
        terminal = {"stage.succeeded", "stage.failed", "stage.skipped", "stage.cancelled"}

        for name, outcome in result.stages.items():
            ends = [e for e in events if e["event"] in terminal and e.get("stage") == name]
            assert len(ends) == 1
            assert ends[0]["status"] == outcome.status.value

    def test_started_once_per_attempt(self, run_everything: tuple[PipelineResult, Events]) -> None:
        result, events = run_everything

        for name, outcome in result.stages.items():
            starts = named(events, "stage.started", name)
            assert [e["attempt"] for e in starts] == list(range(1, outcome.attempts + 1))

    def test_one_pipeline_start_and_end(
        self, run_everything: tuple[PipelineResult, Events]
    ) -> None:
        _, events = run_everything

        assert events[0]["event"] == "pipeline.started"
        assert events[-1]["event"] == "pipeline.failed"
        assert len([e for e in events if e["event"].startswith("pipeline.")]) == 2

    def test_validation_error_emits_nothing(self, events: Events, executor: str) -> None:
        @stage
        def needs(missing_input: int) -> int:
            return missing_input

        with pytest.raises(ValueError):
            Pipeline([needs]).run(executor=executor)

        assert events == []

    def test_fail_fast_cancellations_have_a_reason(self, events: Events, executor: str) -> None:
        @stage
        def bad() -> None:
            raise ValueError("boom")

        @stage
        def independent() -> None:
            return None

        Pipeline([bad, independent]).run(executor=executor, max_workers=1)

        (event,) = named(events, "stage.cancelled", "independent")
        assert event["status"] == "cancelled"
        assert isinstance(event["reason"], str)
        assert event["reason"]

    def test_cancelled_pipeline_event(self, events: Events) -> None:
        @stage
        def stop() -> None:
            raise KeyboardInterrupt

        with pytest.raises(PipelineInterrupted):
            Pipeline([stop]).run(executor="sequential")

        assert trace(events)[-1] == ("pipeline.cancelled", None)
        assert named(events, "pipeline.failed") == []

    def test_override_and_unneeded_stages_emit_nothing(self, events: Events, executor: str) -> None:
        @stage
        def upstream() -> int:
            return 1

        @stage
        def middle(upstream: int) -> int:
            return upstream

        @stage
        def end(middle: int) -> int:
            return middle

        @stage
        def unneeded() -> int:
            return 0

        Pipeline([upstream, middle, end, unneeded]).run(
            targets=["end"], overrides={"middle": 5}, executor=executor
        )

        assert {e.get("stage") for e in events} == {None, "end"}


class TestFields:
    def test_every_event_has_run_id_and_pipeline(
        self, run_everything: tuple[PipelineResult, Events]
    ) -> None:
        result, events = run_everything

        assert events
        for event in events:
            assert event["run_id"] == result.run_id
            assert event["pipeline"] == "every"

    def test_every_stage_event_has_stage_and_status(
        self, run_everything: tuple[PipelineResult, Events]
    ) -> None:
        result, events = run_everything

        for event in events:
            if event["event"].startswith("stage."):
                assert event["stage"] in result.stages
                if event["event"] in STAGE_STATUS:
                    assert event["status"] == STAGE_STATUS[event["event"]], event

    def test_started(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        first = named(events, "stage.started", "load")
        assert len(first) == 1
        assert first[0]["attempt"] == 1
        assert first[0]["status"] == "running"

    def test_succeeded(self, run_everything: tuple[PipelineResult, Events]) -> None:
        result, events = run_everything

        (event,) = named(events, "stage.succeeded", "flaky")
        assert event["attempt"] == 2
        assert isinstance(event["duration_s"], float)
        assert event["duration_s"] >= 0
        assert event["duration_s"] == pytest.approx(result.stages["flaky"].duration)

    def test_retrying(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        (event,) = named(events, "stage.retrying", "flaky")
        assert event["status"] == "running"
        assert event["attempt"] == 1
        assert event["delay_s"] == 0.0
        assert event["error_type"] == "ConnectionError"
        assert event["error"] == "first try fails"

    def test_failed(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        (event,) = named(events, "stage.failed", "bad")
        assert event["status"] == "failed"
        assert event["attempt"] == 1
        assert event["duration_s"] >= 0
        assert event["error_type"] == "ValueError"
        assert event["error"] == "bad stage"

    def test_skipped(self, run_everything: tuple[PipelineResult, Events]) -> None:
        result, events = run_everything

        (event,) = named(events, "stage.skipped", "gated")
        assert event["status"] == "skipped"
        assert isinstance(event["reason"], str)
        assert event["reason"]
        assert event["reason"] == result.stages["gated"].skip_reason

    def test_cancelled(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        (event,) = named(events, "stage.cancelled", "after_bad")
        assert event["status"] == "cancelled"
        assert isinstance(event["reason"], str)
        assert "bad" in event["reason"]

    def test_hook_failed(self, run_everything: tuple[PipelineResult, Events]) -> None:
        _, events = run_everything

        (event,) = named(events, "stage.hook_failed", "flaky")
        assert event["status"] == "success"
        assert event["error_type"] == "RuntimeError"
        assert event["error"] == "hook broke"

    def test_each_run_has_its_own_id(self, events: Events, executor: str) -> None:
        pipeline = everything(pipeline_ok=True)

        first = pipeline.run({"source": "s"}, executor=executor)
        second = pipeline.run({"source": "s"}, executor=executor)

        assert first.run_id != second.run_id
        assert {e["run_id"] for e in events} == {first.run_id, second.run_id}


def _strings(value: Any) -> Iterator[str]:
    """Every string a rendered event could show for ``value``: keys, values and reprs."""
    yield str(value)
    yield repr(value)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


class TestSecrets:
    HIDDEN_INPUT = "input-s3cret-4f9a"
    HIDDEN_OUTPUT = "output-s3cret-77c2"

    def test_values_never_logged(self, events: Events, executor: str) -> None:
        hidden_output = self.HIDDEN_OUTPUT

        def hook(result: StageResult) -> None:
            raise RuntimeError("hook fails without saying the value")

        @stage(retries=1, on_success=hook)
        def fetch(token: str, context: StageContext) -> str:
            if context.attempt == 1:
                raise ConnectionError("flaky network")
            return hidden_output

        @stage(when=lambda fetch: fetch == "never")
        def gated(fetch: str) -> str:
            return fetch

        @stage
        def use(fetch: str, token: str) -> int:
            raise ValueError("use failed")

        @stage
        def after(use: int) -> int:
            return use

        @stage(timeout=5)
        def echo(fetch: str) -> str:
            return fetch

        pipeline = Pipeline([fetch, gated, use, after, echo], fail_fast=False)
        result = pipeline.run(
            {"token": self.HIDDEN_INPUT, "extra": self.HIDDEN_INPUT}, executor=executor
        )

        assert result.outputs["echo"] == self.HIDDEN_OUTPUT  # the run did see the values
        assert {e["event"] for e in events} >= {
            "stage.retrying",
            "stage.hook_failed",
            "stage.skipped",
            "stage.failed",
            "stage.cancelled",
        }
        for event in events:
            for text in _strings(event):
                assert self.HIDDEN_INPUT not in text, event
                assert self.HIDDEN_OUTPUT not in text, event


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestStructlogConfiguration:
    def test_library_never_configures_structlog(self) -> None:
        proc = _run_python(
            """
            import structlog
            import flowkit

            assert not structlog.is_configured(), "configured on import"

            @flowkit.stage
            def one() -> int:
                return 1

            for executor in ("sequential", "threads"):
                flowkit.Pipeline([one]).run(executor=executor)
            print(structlog.is_configured())
            """
        )

        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == "False"  # default structlog prints above

    def test_logger_is_named_flowkit(self) -> None:
        proc = _run_python(
            """
            import json, logging, sys
            import structlog

            class Keep(logging.Handler):
                records = []
                def emit(self, record):
                    self.records.append((record.name, record.getMessage()))

            handler = Keep()
            logging.getLogger().addHandler(handler)
            logging.getLogger().setLevel(logging.DEBUG)
            structlog.configure(
                processors=[structlog.processors.JSONRenderer()],
                logger_factory=structlog.stdlib.LoggerFactory(),
                wrapper_class=structlog.stdlib.BoundLogger,
            )
            import flowkit

            @flowkit.stage
            def one() -> int:
                return 1

            flowkit.Pipeline([one]).run(executor="sequential")
            print(json.dumps(Keep.records))
            """
        )

        assert proc.returncode == 0, proc.stderr
        records = json.loads(proc.stdout)
        assert [json.loads(message)["event"] for _, message in records] == [
            "pipeline.started",
            "stage.started",
            "stage.succeeded",
            "pipeline.succeeded",
        ]
        assert {name for name, _ in records} == {"flowkit"}


def test_events_from_worker_threads_carry_their_stage(events: Events) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @stage
    def left() -> int:
        barrier.wait()
        return 1

    @stage
    def right() -> int:
        barrier.wait()
        return 2

    result = Pipeline([left, right]).run(executor="threads", max_workers=2)

    assert result.ok
    for name in ("left", "right"):
        assert [e["event"] for e in events if e.get("stage") == name] == [
            "stage.started",
            "stage.succeeded",
        ]
