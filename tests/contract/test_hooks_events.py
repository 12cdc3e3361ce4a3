"""Hooks and events on every executor (DESIGN §3 hooks, §4, §10): hooks run once after the
final status, a raising hook changes nothing; every event names its run and pipeline, each
stage's events follow its transitions, and no value is ever logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract import kinds
from contract.harness import of, position, retried, sequence
from flowkit import Pipeline, PipelineStatus, StageStatus


def test_hooks_run_once_with_the_final_result(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([kinds.hooked_ok, kinds.hooked_bad], fail_fast=False).run(executor=executor)

    assert result["hooked_ok"] == 7
    calls = sorted((Path(workdir) / "hooks.log").read_text().splitlines())
    assert calls == ["hooked_bad failed 3", "hooked_ok success 1"]
    assert sequence(events, "hooked_bad") == retried(3, "stage.failed")


def test_a_raising_hook_is_logged_and_changes_no_status(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(
        [kinds.broken_hook_ok, kinds.after_broken_hook, kinds.broken_hook_bad],
        fail_fast=False,
    )

    result = pipeline.run(executor=executor)

    assert result.stages["broken_hook_ok"].status is StageStatus.SUCCESS
    assert result["after_broken_hook"] == 2
    assert result.stages["broken_hook_bad"].status is StageStatus.FAILED
    assert str(result.stages["broken_hook_bad"].error) == "stage broke"
    assert sequence(events, "broken_hook_ok") == [
        "stage.started",
        "stage.succeeded",
        "stage.hook_failed",
    ]
    assert sequence(events, "broken_hook_bad") == [
        "stage.started",
        "stage.failed",
        "stage.hook_failed",
    ]
    hook_events = {e["stage"]: e for e in events if e["event"] == "stage.hook_failed"}
    assert hook_events["broken_hook_ok"]["status"] == "success"
    assert hook_events["broken_hook_bad"]["status"] == "failed"
    assert {e["error"] for e in hook_events.values()} == {"hook broke"}


def test_every_event_names_its_run_and_pipeline_and_logs_no_value(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(
        [kinds.sensitive, kinds.after_sensitive, kinds.per_credential],
        name="secretive",
        fail_fast=False,
    )

    result = pipeline.run(
        {"credential": "hunter2", "credentials": ["hunter2-a", "hunter2-b"]},
        executor=executor,
    )

    assert result["sensitive"] == "output-hunter2"
    assert result["per_credential"] == ["HUNTER2-A", "HUNTER2-B"]
    assert result.status is PipelineStatus.FAILED
    assert events[0]["event"] == "pipeline.started"
    assert events[-1]["event"] == "pipeline.failed"
    assert {(e["run_id"], e["pipeline"]) for e in events} == {(result.run_id, "secretive")}
    assert "hunter2" not in repr(events).lower()
    assert sequence(events, "sensitive") == ["stage.started", "stage.succeeded"]
    assert sequence(events, "after_sensitive") == ["stage.started", "stage.failed"]
    for event in events:
        if event["event"].startswith("stage."):
            assert event["status"] in {"running", "success", "failed", "skipped", "cancelled"}
    failed = of(events, "after_sensitive", "stage.failed")[0]
    assert (failed["error_type"], failed["error"]) == (
        "ValueError",
        "failed without saying what it got",
    )
    assert position(events, "sensitive", "stage.succeeded") < position(
        events, "after_sensitive", "stage.started"
    )
