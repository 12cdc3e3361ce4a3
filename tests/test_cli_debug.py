"""Failures you can debug from the command line (DESIGN §11.2), through the real ``flowkit``
command in a subprocess: the summary names what failed, tracebacks in the logs, the result
JSON and ``inspect``, quieter logs, typed defaults and warnings about lookalike inputs."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import uuid
from pathlib import Path

import click
import pytest
from pipelines import HERE, flowkit, json_lines, target

from flowkit import cli as flowkit_cli
from flowkit.cli._usage import EXIT_USAGE, UsageFailure

CRASH = HERE / "crash.py"
FAILED_LINE = "FAILED clean_orders: KeyError: 'b' (attempt 3 of 3)"


def crash_frames() -> list[str]:
    """The stage's own frames that every traceback must show, with file and line."""
    lines = CRASH.read_text().splitlines()
    call = next(n for n, line in enumerate(lines, 1) if "return lookup(orders" in line)
    fail = next(n for n, line in enumerate(lines, 1) if "return rows[key]" in line)
    return [
        f'File "{CRASH}", line {call}, in clean_orders',
        f'File "{CRASH}", line {fail}, in lookup',
    ]


def has_frames(text: str) -> bool:
    return all(frame in text for frame in crash_frames())


@pytest.fixture(scope="module", params=["sequential", "threads", "processes"])
def crashed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One failed run of ``crash.py`` per executor: its process, JSON log and result JSON,
    with a unique secret in the failing stage's local variable."""
    folder = tmp_path_factory.mktemp(request.param)
    secret = f"secret-{uuid.uuid4().hex}"
    log, result = folder / "run.jsonl", folder / "result.json"
    done = flowkit(
        "run", CRASH, "--executor", request.param, "--log-format", "console",
        "--log-file", log, "--result-json", result,
        env={"FLOWKIT_TEST_SECRET": secret},
    )  # fmt: skip
    return {"done": done, "log": log, "result": result, "secret": secret}


class TestAFailedRun:
    def test_the_summary_names_the_failed_stage_with_its_error_and_attempts(
        self, crashed: dict
    ) -> None:
        done = crashed["done"]
        lines = done.stdout.splitlines()

        assert done.returncode == 1
        assert re.fullmatch(r"pipeline crash failed in \d+\.\d\ds: 1 succeeded, 1 failed, "
                            r"0 skipped, 1 cancelled", lines[0])  # fmt: skip
        assert lines[1:] == [FAILED_LINE]

    def test_failed_and_retrying_events_in_the_log_carry_the_traceback(self, crashed: dict) -> None:
        events = json_lines(crashed["log"].read_text())
        failures = [e for e in events if e["event"] in ("stage.retrying", "stage.failed")]

        assert [e["event"] for e in failures] == ["stage.retrying"] * 2 + ["stage.failed"]
        assert all(has_frames(e["exception"]) for e in failures)
        assert [e for e in events if e["event"] == "stage.succeeded" and "exception" in e] == []

    def test_the_console_log_shows_the_traceback(self, crashed: dict) -> None:
        assert has_frames(crashed["done"].stderr)

    def test_the_result_json_has_the_traceback_per_stage(self, crashed: dict) -> None:
        stages = json.loads(crashed["result"].read_text())["stages"]

        assert has_frames(stages["clean_orders"]["exception"])
        assert stages["clean_orders"]["error"] == {"type": "KeyError", "message": "'b'"}
        assert (stages["orders"]["exception"], stages["report"]["exception"]) == (None, None)

    def test_inspect_prints_the_traceback_of_the_failed_stage(self, crashed: dict) -> None:
        done = flowkit("inspect", crashed["log"])
        tail = done.stdout.partition("\nclean_orders failed (attempt 3):\n")[2]

        assert done.returncode == 0
        assert has_frames(tail)
        assert tail.rstrip().endswith("KeyError: 'b'")

    def test_inspect_stage_shows_each_attempt(self, crashed: dict) -> None:
        done = flowkit("inspect", crashed["log"], "--stage", "clean_orders")
        heads = [line for line in done.stdout.splitlines() if line.startswith("  attempt")]

        assert done.returncode == 0
        assert "stage clean_orders: failed, 3 attempt(s), " in done.stdout
        assert [re.sub(r"started \S+, \S+,", "started T, D,", h) for h in heads] == [
            "  attempt 1: started T, D, retrying: KeyError: 'b' (next attempt after 0us)",
            "  attempt 2: started T, D, retrying: KeyError: 'b' (next attempt after 0us)",
            "  attempt 3: started T, D, failed: KeyError: 'b'",
        ]
        assert done.stdout.count("Traceback (most recent call last):") >= 3
        assert has_frames(done.stdout)

    def test_the_secret_in_a_local_variable_appears_nowhere(self, crashed: dict) -> None:
        done = crashed["done"]
        inspected = flowkit("inspect", crashed["log"])
        one_stage = flowkit("inspect", crashed["log"], "--stage", "clean_orders")
        texts = {
            "console": done.stderr,
            "stdout": done.stdout,
            "log file": crashed["log"].read_text(),
            "result json": crashed["result"].read_text(),
            "inspect": inspected.stdout,
            "inspect --stage": one_stage.stdout,
        }

        assert has_frames(texts["console"])  # the tracebacks are there...
        assert has_frames(texts["inspect"])
        assert [where for where, text in texts.items() if crashed["secret"] in text] == []


def test_inspect_an_unknown_stage_suggests_the_closest(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    flowkit("run", CRASH, "--executor", "sequential", "--log-file", log)
    done = flowkit("inspect", log, "--stage", "clean_order")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "Error: Invalid value for '--stage': no stage 'clean_order' in the log "
        "(did you mean 'clean_orders'?); its stages are: clean_orders, orders, report"
    )


class TestLogLevels:
    def test_quiet_shows_warnings_and_errors_only(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        done = flowkit("run", CRASH, "--executor", "sequential", "-q", "--log-file", log)
        shown = {event["event"] for event in json_lines(done.stderr) if "event" in event}

        assert done.returncode == 1
        assert shown == {"stage.retrying", "stage.failed", "stage.cancelled", "pipeline.failed"}
        logged = {event["event"] for event in json_lines(log.read_text())}
        assert {"pipeline.started", "stage.started", "stage.succeeded"} <= logged  # all kept

    def test_log_level_error(self) -> None:
        done = flowkit("run", CRASH, "--executor", "sequential", "--log-level", "error")
        levels = {event["level"] for event in json_lines(done.stderr)}

        assert levels == {"error"}

    def test_the_default_level_is_info(self) -> None:
        done = flowkit("run", target("basic", "pipeline"), "-i", "count=2")

        assert {event["level"] for event in json_lines(done.stderr)} == {"info"}

    def test_an_unknown_level_is_a_usage_error(self) -> None:
        done = flowkit("run", CRASH, "--log-level", "loud")

        assert done.returncode == 2
        assert "Invalid value for '--log-level'" in done.stderr


def test_console_lines_show_8_characters_of_the_run_id_and_json_the_whole(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.jsonl"
    done = flowkit("run", target("basic", "pipeline"), "-i", "count=2", "--log-format",
                   "console", "--log-file", log)  # fmt: skip
    run_id = json_lines(log.read_text())[0]["run_id"]
    shown = re.findall(r"run_id=(\S+)", done.stderr)

    assert len(run_id) == 32
    assert set(shown) == {run_id[:8]}
    assert len(max(done.stderr.splitlines(), key=len)) < 200


class TestDefaultsAndLookalikes:
    LOOKALIKE = target("lookalike")

    def test_an_unannotated_input_converts_to_its_default_s_type(self, tmp_path: Path) -> None:
        result = tmp_path / "result.json"
        done = flowkit("run", self.LOOKALIKE, "-i", "raw=a,b", "-i", 'parsd=["x"]',
                       "-i", "factor=3", "--result-json", result)  # fmt: skip
        stages = json.loads(result.read_text())["stages"]

        assert done.returncode == 0, done.stderr
        assert stages["scaled"]["output"] == "int 6"

    def test_an_unconvertible_value_names_the_default_s_type(self) -> None:
        done = flowkit("run", self.LOOKALIKE, "-i", "raw=a", "-i", 'parsd=["x"]', "-i", "factor=x")

        assert done.returncode == 2
        assert done.stderr.startswith("Error: invalid value for input 'factor': expected int")

    def test_list_shows_the_default_s_type_and_the_default(self) -> None:
        done = flowkit("list", self.LOOKALIKE)

        assert "  factor  int        optional  2        scaled" in done.stdout.splitlines()

    @pytest.mark.parametrize("command", ["list", "validate"])
    def test_list_and_validate_warn_about_an_input_like_a_stage(self, command: str) -> None:
        done = flowkit(command, self.LOOKALIKE)

        assert done.returncode == 0
        warning = (
            "warning: input 'parsd' looks like stage 'parsed'; if it is meant to be that "
            "stage's output, rename the parameter to 'parsed'"
        )
        assert done.stderr.splitlines() == [warning]

    def test_run_fails_only_on_missing_inputs(self) -> None:
        done = flowkit("run", self.LOOKALIKE, "-i", "raw=a")

        assert done.returncode == 2
        assert done.stderr.startswith("Error: missing required input(s): 'parsd'")
        assert "warning" not in done.stderr

    def test_an_input_that_names_a_stage_points_to_overrides(self) -> None:
        done = flowkit("run", self.LOOKALIKE, "-i", "raw=a", "-i", 'parsd=["x"]', "-i", "parsed=y")

        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.startswith("Error: input 'parsed' names stage 'parsed' of pipeline")
        assert "overrides={'parsed': value}" in done.stderr
        assert "pipeline.started" not in done.stderr  # refused before any stage ran


def test_the_cli_has_one_usage_error_class_with_its_exit_code() -> None:
    found = set()
    for info in pkgutil.iter_modules(flowkit_cli.__path__):
        module = importlib.import_module(f"flowkit.cli.{info.name}")
        found |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, click.ClickException) and cls.__module__.startswith("flowkit")
        }

    assert (found, UsageFailure("x").exit_code) == ({UsageFailure}, EXIT_USAGE)
