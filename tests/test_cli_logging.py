"""The CLI's log output object, in-process: whole lines from many threads, sinks that fail,
values that cannot be rendered, and the progress counts (the subprocess tests in
test_cli_run.py and test_cli_signals.py check the same through the real command)."""

from __future__ import annotations

import io
import json
import threading

from flowkit.cli._logging import CLEAR_LINE, Output, Progress


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = object.__str__


class ClosedStream(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_lines_from_many_threads_stay_whole() -> None:
    stream, log = io.StringIO(), io.StringIO()
    output = Output(stream, console=False, log_file=log)
    start = threading.Barrier(8)

    def emit(thread: int) -> None:
        start.wait()
        for i in range(200):
            output.msg(event="stage.started", stage=f"t{thread}-{i}", padding="x" * 500)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for text in (stream.getvalue(), log.getvalue()):
        stages = [json.loads(line)["stage"] for line in text.splitlines()]
        assert sorted(stages) == sorted(f"t{t}-{i}" for t in range(8) for i in range(200))


def test_a_failing_sink_is_dropped_and_the_other_kept() -> None:
    log = io.StringIO()
    output = Output(ClosedStream(), console=True, log_file=log)

    output.msg(event="stage.started", stage="a")
    output.msg(event="stage.succeeded", stage="a")

    assert [json.loads(line)["event"] for line in log.getvalue().splitlines()] == [
        "stage.started",
        "stage.succeeded",
    ]


def test_values_that_cannot_be_rendered_still_give_a_line() -> None:
    for console in (True, False):
        stream = io.StringIO()
        Output(stream, console=console).msg(event="user.note", value=Unprintable(), big=2**80)

        assert json.loads(stream.getvalue()) == {
            "event": "user.note",
            "value": "<unprintable Unprintable>",
            "big": str(2**80),
        }


def test_events_after_close_are_dropped() -> None:
    stream = io.StringIO()
    output = Output(stream, console=False)
    output.close()
    output.msg(event="stage.succeeded", stage="late")

    assert stream.getvalue() == ""


def test_progress_counts_top_level_stages_only() -> None:
    progress = Progress(["a", "b", "c"])
    for event, stage in [
        ("stage.started", "a"),
        ("stage.started", "child-of-a-group"),
        ("stage.retrying", "a"),
        ("stage.started", "b"),
        ("stage.succeeded", "b"),
        ("stage.failed", "a"),
        ("stage.skipped", "c"),
    ]:
        progress.observe({"event": event, "stage": stage})

    assert progress.line().startswith("flowkit: 3/3 stages done, 0 running, 1 failed [")


def test_progress_line_is_redrawn_under_each_log_line_and_cleared() -> None:
    stream = io.StringIO()
    output = Output(stream, console=False, progress=Progress(["a"]))
    output.msg(event="pipeline.started", stages=1)
    output.msg(event="stage.started", stage="a")
    output.close()
    frames = stream.getvalue().split(CLEAR_LINE)

    assert frames[0] == ""
    assert frames[1].endswith("\nflowkit: 0/1 stages done, 0 running, 0 failed [0.0s]")
    assert frames[2].endswith("\nflowkit: 0/1 stages done, 1 running, 0 failed [0.0s]")
    assert frames[3] == ""  # closing clears the line and leaves nothing


def test_progress_counts_the_items_of_running_fanouts() -> None:
    progress = Progress(["fetch", "after"])
    progress.observe({"event": "stage.started", "stage": "fetch", "attempt": 1})
    for index in range(37):
        progress.observe(
            {"event": "stage.succeeded", "stage": "fetch", "item": index, "items": 120}
        )
    progress.observe({"event": "stage.retrying", "stage": "fetch", "item": 40, "attempt": 1})

    assert progress.line().startswith(
        "flowkit: 0/2 stages done, 1 running, 0 failed, stage fetch: 37/120 items ["
    )

    progress.observe({"event": "stage.failed", "stage": "fetch", "item": 41, "items": 120})
    assert ", stage fetch: 38/120 items [" in progress.line()
    progress.observe({"event": "stage.succeeded", "stage": "fetch", "attempt": 2})
    assert progress.line().startswith("flowkit: 1/2 stages done, 0 running, 0 failed [")


def test_a_level_hides_lesser_events_from_the_stream_but_not_from_the_log_file() -> None:
    stream, log = io.StringIO(), io.StringIO()
    output = Output(stream, console=False, log_file=log, level="warning")
    for level, event in [("info", "stage.started"), ("warning", "stage.retrying"),
                         ("error", "stage.failed")]:  # fmt: skip
        output.msg(event=event, level=level, stage="a")

    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "stage.retrying",
        "stage.failed",
    ]
    assert len(log.getvalue().splitlines()) == 3


def test_a_quiet_progress_line_still_counts_the_hidden_events() -> None:
    stream = io.StringIO()
    output = Output(stream, console=False, progress=Progress(["a"]), level="warning")
    output.msg(event="stage.started", level="info", stage="a")
    output.msg(event="stage.succeeded", level="info", stage="a")

    assert stream.getvalue() == (
        f"{CLEAR_LINE}flowkit: 0/1 stages done, 1 running, 0 failed [0.0s]"
        f"{CLEAR_LINE}flowkit: 1/1 stages done, 0 running, 0 failed [0.0s]"
    )


def test_console_lines_shorten_the_run_id_and_json_keeps_it() -> None:
    run_id = "0123456789abcdef0123456789abcdef"
    console, plain = io.StringIO(), io.StringIO()
    Output(console, console=True).msg(event="pipeline.started", run_id=run_id)
    Output(plain, console=False).msg(event="pipeline.started", run_id=run_id)

    assert console.getvalue().rstrip().endswith(" run_id=01234567")
    assert json.loads(plain.getvalue())["run_id"] == run_id


def test_console_lines_leave_out_the_dag_and_json_keeps_it() -> None:
    dependencies = {"a": [], "b": ["a"]}
    console, plain = io.StringIO(), io.StringIO()
    for stream, is_console in ((console, True), (plain, False)):
        Output(stream, console=is_console).msg(
            event="pipeline.started", stages=2, dependencies=dependencies
        )

    assert "dependencies" not in console.getvalue()
    assert "stages=2" in console.getvalue()
    assert json.loads(plain.getvalue())["dependencies"] == dependencies
