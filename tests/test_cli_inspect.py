"""``flowkit inspect``: runs rebuilt from the JSON event log alone, through the real entry
point in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipelines import flowkit, json_lines, target
from test_cli_signals import wait_for_event


def event(seconds: float, name: str, run_id: str = "r1", **fields: Any) -> str:
    """One JSON log line at 03:04:<seconds> UTC."""
    record = {
        "timestamp": f"2026-01-02T03:04:{seconds:06.3f}Z",
        "level": "info",
        "event": name,
        "run_id": run_id,
        "pipeline": "demo",
        **fields,
    }
    return json.dumps(record)


def ran(start: float, end: float, stage: str, attempt: int = 1) -> list[str]:
    return [
        event(start, "stage.started", stage=stage, status="running", attempt=attempt),
        event(end, "stage.succeeded", stage=stage, status="success", attempt=attempt,
              duration_s=end - start),
    ]  # fmt: skip


DEMO = [
    event(0.0, "pipeline.started", status="running", stages=4),
    event(0.0, "stage.started", stage="extract", status="running", attempt=1),
    event(0.5, "stage.started", stage="fetch", status="running", attempt=1),
    event(1.0, "stage.succeeded", stage="extract", status="success", attempt=1, duration_s=1.0),
    event(1.0, "stage.retrying", stage="fetch", status="running", attempt=1, delay_s=0.0,
          error_type="TimeoutError", error="slow"),
    event(1.0, "stage.started", stage="fetch", status="running", attempt=2),
    event(2.0, "stage.succeeded", stage="fetch", status="success", attempt=2, duration_s=1.5),
    event(2.0, "stage.started", stage="merge", status="running", attempt=1),
    event(3.0, "stage.failed", stage="merge", status="failed", attempt=1, duration_s=1.0,
          error_type="KeyError", error="'id'"),
    event(3.0, "stage.cancelled", stage="publish", status="cancelled",
          reason="dependency 'merge' failed"),
    event(3.0, "pipeline.failed", status="failed", duration_s=3.0, succeeded=2, failed=1,
          skipped=0, cancelled=1),
]  # fmt: skip

DEMO_REPORT = """\
run r1
pipeline demo: failed in 3.00s (2 succeeded, 1 failed, 0 skipped, 1 cancelled)
started 2026-01-02T03:04:00.000Z

  STAGE    STATUS     ATTEMPTS  DURATION  DETAIL
  extract  success    1         1.00s
  fetch    success    2         1.50s     retried after TimeoutError
  merge    failed     1         1.00s     KeyError: 'id'
  publish  cancelled  0         -         dependency 'merge' failed

timeline: 0 to 3.00s, one column = 100.0ms
  extract  |##########                    |
  fetch    |     ###############          |
  merge    |                    XXXXXXXXXX|
  publish  |                             .|
  # ran  X failed  ~ running when the log ends  - cancelled while running  . skipped or \
cancelled before starting  c cached
"""


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_report_and_timeline_of_a_known_log(tmp_path: Path) -> None:
    done = flowkit("inspect", write(tmp_path / "demo.jsonl", DEMO), "--width", "30")

    assert (done.returncode, done.stdout, done.stderr) == (0, DEMO_REPORT, "")


def test_parallel_stages_overlap_on_the_timeline(tmp_path: Path) -> None:
    lines = [
        event(0.0, "pipeline.started", stages=3),
        *ran(0.0, 2.0, "left"),
        *ran(0.0, 2.0, "right"),
        *ran(2.0, 4.0, "join"),
        event(4.0, "pipeline.succeeded", duration_s=4.0),
    ]
    done = flowkit("inspect", write(tmp_path / "log.jsonl", lines), "--width", "10")

    bars = [line for line in done.stdout.splitlines() if "|" in line]
    assert bars == [
        "  left   |#####     |",
        "  right  |#####     |",
        "  join   |     #####|",
    ]


def test_a_real_failed_run(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    flowkit("run", target("failing"), "--executor", "sequential", "--log-file", log)
    done = flowkit("inspect", log)
    lines = done.stdout.splitlines()
    rows = {line.split()[0]: line.split(None, 4)[1:] for line in lines[4:8]}

    assert done.returncode == 0  # the log was read; the run's failure is not inspect's
    assert lines[1].startswith("pipeline failing: failed in ")
    assert lines[1].endswith("(1 succeeded, 1 failed, 0 skipped, 2 cancelled)")
    assert rows["bad"][:2] == ["failed", "2"]
    assert rows["bad"][3] == "ValueError: the data is bad; retried after ValueError"
    assert rows["after"] == ["cancelled", "0", "-", "fail-fast: another stage failed"]
    assert rows["good"][:2] == ["success", "1"]
    assert [line.split()[0] for line in lines if "|" in line] == ["good", "bad", "after", "late"]


def test_one_section_per_run(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    flowkit("run", target("basic"), "-i", "count=1", "--log-file", log)
    flowkit("run", target("failing"), "--log-file", log)
    run_ids = list(dict.fromkeys(e["run_id"] for e in json_lines(log.read_text())))
    done = flowkit("inspect", log)

    assert done.returncode == 0
    assert [line for line in done.stdout.splitlines() if line.startswith("run ")] == [
        f"run {run_id}" for run_id in run_ids
    ]
    assert "pipeline basic: success in" in done.stdout
    assert "pipeline failing: failed in" in done.stdout


def test_a_killed_run_is_unfinished_with_its_running_stage(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "run", target("slow"), "--log-file", log],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_event(log, "stage.started", "slow", process)
    process.send_signal(signal.SIGKILL)  # no chance to log anything more
    process.wait(timeout=30)
    with log.open("a") as file:
        file.write('{"timestamp": "2026-01-0')  # and a line cut short by the kill

    done = flowkit("inspect", log)
    lines = done.stdout.splitlines()

    assert done.returncode == 0
    assert lines[1].startswith("pipeline slow: unfinished after ")
    assert lines[3] == "the log ends before the pipeline did; still running: slow"
    assert lines[4] == "1 stage(s) never appear in the log"
    slow = next(line for line in lines if line.startswith("  slow "))
    assert slow.split()[1:3] == ["running", "1"]
    assert slow.endswith("still running when the log ends (attempt 1)")
    bars = [line for line in lines if line.endswith("|")]
    assert [bar.split()[0] for bar in bars] == ["quick", "slow"]
    assert bars[1].endswith("~|")
    assert (
        lines[-1]
        == f"note: line {len(log.read_text().splitlines())} is cut short (the log ends mid-line)"
    )


def test_other_lines_in_the_file_are_ignored(tmp_path: Path) -> None:
    lines = ["plain text from another program", json.dumps({"msg": "not ours"}), *DEMO]
    done = flowkit("inspect", write(tmp_path / "log.jsonl", lines), "--width", "30")

    assert done.returncode == 0
    assert done.stdout.startswith(DEMO_REPORT)
    assert done.stdout.endswith("note: 1 line(s) are not JSON and were skipped (first: line 1)\n")


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    done = flowkit("inspect", tmp_path / "nope.jsonl")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"Error: log file '{tmp_path / 'nope.jsonl'}' not found\n"


def test_a_file_that_is_not_an_event_log_exits_2(tmp_path: Path) -> None:
    for content in ("", "hello\nworld\n", '{"event": "x"}\n[1, 2]\n'):
        path = tmp_path / "other.txt"
        path.write_text(content)
        done = flowkit("inspect", path)

        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.startswith(f"Error: '{path}' is not a flowkit event log")


def test_cache_hits_skips_and_hook_failures_are_shown(tmp_path: Path) -> None:
    lines = [
        event(0.0, "pipeline.started", stages=3),
        event(0.0, "stage.succeeded", stage="load", status="success", attempt=0,
              duration_s=0.0, cached=True),
        event(0.5, "stage.skipped", stage="notify", status="skipped",
              reason="condition is false"),
        *ran(0.0, 1.0, "train"),
        event(1.0, "stage.hook_failed", stage="train", status="success", hook="ping",
              error_type="OSError", error="no route"),
        event(1.0, "pipeline.succeeded", duration_s=1.0, succeeded=2, failed=0, skipped=1,
              cancelled=0),
    ]  # fmt: skip
    done = flowkit("inspect", write(tmp_path / "log.jsonl", lines), "--width", "10")
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[5:8]}
    bars = {line.split()[0]: line.split(None, 1)[1] for line in done.stdout.splitlines()[10:13]}

    assert rows["load"].split()[1:4] == ["success", "0", "0us"]
    assert rows["load"].endswith("cached")
    assert rows["notify"].endswith("condition is false")
    assert rows["train"].endswith("ping failed: OSError: no route")
    assert bars == {"load": "|c         |", "notify": "|     .    |", "train": "|##########|"}
