"""Interrupting ``flowkit run`` (SIGTERM, SIGINT) and the live progress line on a terminal."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pipelines import json_lines, target


def start(tmp_path: Path, *args: object) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``flowkit run`` on the slow pipeline with its log file; stdout goes to a file."""
    log = tmp_path / "run.jsonl"
    with (tmp_path / "stdout").open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowkit", "run", target("slow"), "--log-file", log, *args],
            stdout=out,
            stderr=err,
        )
    return process, log


def wait_for_event(log: Path, event: str, stage: str, process: subprocess.Popen[bytes]) -> None:
    """Block until the log file has ``event`` for ``stage`` (the run is then in that state)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "flowkit exited before the event"
        if log.exists():
            for line in log.read_text().splitlines():
                # Only whole lines count: the writer may be mid-line.
                if not line.endswith("}"):
                    continue
                record = json.loads(line)
                if (record.get("event"), record.get("stage")) == (event, stage):
                    return
        time.sleep(0.01)  # polling the file for the state change, not hoping for timing
    pytest.fail(f"no {event} for {stage} in {log}")


@pytest.mark.parametrize(
    ("executor", "signum"),
    [
        ("threads", signal.SIGTERM),
        ("threads", signal.SIGINT),
        ("async", signal.SIGTERM),
        ("sequential", signal.SIGTERM),
        ("processes", signal.SIGTERM),
    ],
)
def test_a_signal_mid_run_cancels_cleanly_and_exits_130(
    tmp_path: Path, executor: str, signum: signal.Signals
) -> None:
    result = tmp_path / "result.json"
    process, log = start(tmp_path, "--executor", executor, "--result-json", result)
    wait_for_event(log, "stage.started", "slow", process)

    process.send_signal(signum)

    assert process.wait(timeout=60) == 130
    events = json_lines(log.read_text())
    assert events[-1]["event"] == "pipeline.cancelled"
    final = {e["stage"]: e["event"] for e in events if "stage" in e}
    assert final == {
        "quick": "stage.succeeded",
        "slow": "stage.cancelled",
        "final": "stage.cancelled",
    }
    stdout = (tmp_path / "stdout").read_text()
    assert stdout.startswith("pipeline slow cancelled in ")
    assert stdout.rstrip().endswith("1 succeeded, 0 failed, 0 skipped, 2 cancelled")
    assert json.loads(result.read_text())["status"] == "cancelled"
    assert "Traceback" not in (tmp_path / "stderr").read_text()


def run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run flowkit with stderr on a pseudo-terminal; return (exit code, stdout, terminal)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit", *args], stdout=subprocess.PIPE, stderr=follower, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=60)
    reader.join(timeout=60)
    os.close(leader)
    return process.returncode, stdout.decode(), b"".join(chunks).decode()


def test_progress_line_on_a_terminal_is_redrawn_and_cleared() -> None:
    code, stdout, terminal = run_on_a_terminal("run", target("basic"), "-i", "count=2")

    assert code == 0
    assert stdout.startswith("pipeline basic success")
    # Each log line first clears the progress line, then the progress line is redrawn below.
    assert terminal.count("\r\x1b[K") == 12  # 11 events, and the final clear
    assert "flowkit: 0/5 stages done, 1 running, 0 failed" in terminal
    assert "flowkit: 5/5 stages done, 0 running, 0 failed" in terminal
    assert terminal.endswith("\r\x1b[K")  # nothing is left on the line afterwards
    assert "[info" in terminal  # console logs by default on a terminal
    assert '"event"' not in terminal  # console lines, not JSON


def test_progress_counts_failures() -> None:
    code, _, terminal = run_on_a_terminal("run", target("failing"), "--executor", "sequential")

    assert code == 1
    assert "flowkit: 2/4 stages done, 0 running, 1 failed" in terminal
    assert "flowkit: 4/4 stages done, 0 running, 1 failed" in terminal


def test_progress_counts_map_over_items() -> None:
    code, _, terminal = run_on_a_terminal("run", target("fanout"), "--executor", "sequential")

    assert code == 0
    for done in range(1, 6):
        assert (
            f"flowkit: 1/2 stages done, 1 running, 0 failed, stage fetch: {done}/5 items ["
            in terminal
        )
    assert "flowkit: 2/2 stages done, 0 running, 0 failed [" in terminal
