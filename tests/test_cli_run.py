"""``flowkit run``, through the real entry point in a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pipelines import HERE, SCRIPT, flowkit, json_lines, target

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")
SUMMARY = re.compile(
    r"^pipeline (\S+) (\w+) in \d+\.\d\ds: (\d+) succeeded, (\d+) failed, (\d+) skipped, "
    r"(\d+) cancelled$"
)


def summary(stdout: str) -> tuple[str, ...]:
    """The summary line's fields: name, status, then the four counts."""
    match = SUMMARY.match(stdout.strip().splitlines()[0])
    assert match is not None, stdout
    return match.groups()


class TestOutcomes:
    def test_success_exits_0_with_a_summary_line_on_stdout(self) -> None:
        done = flowkit("run", target("basic", "pipeline"), "-i", "count=3")

        assert (done.returncode, done.stdout.count("\n")) == (0, 1)
        assert summary(done.stdout) == ("basic", "success", "4", "0", "1", "0")

    def test_a_failed_pipeline_exits_1(self) -> None:
        done = flowkit("run", target("failing"), "--executor", "sequential")

        assert done.returncode == 1
        assert summary(done.stdout) == ("failing", "failed", "1", "1", "0", "2")

    def test_no_fail_fast_runs_what_does_not_need_the_failed_stage(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        args = ("run", target("failing"), "--executor", "sequential", "--result-json", out)
        done = flowkit(*args, "--no-fail-fast")
        stages = json.loads(out.read_text())["stages"]

        assert done.returncode == 1
        assert {name: s["status"] for name, s in stages.items()} == {
            "good": "success",
            "bad": "failed",
            "after": "cancelled",
            "late": "success",
        }

    def test_a_builder_attribute_is_built(self) -> None:
        done = flowkit("run", target("basic", "built"), "-i", "count=2")

        assert (done.returncode, summary(done.stdout)[:3]) == (0, ("built", "success", "2"))

    def test_a_module_alone_runs_all_its_stages(self) -> None:
        done = flowkit("run", target("basic"), "-i", "count=2")

        assert (done.returncode, summary(done.stdout)[:3]) == (0, ("basic", "success", "4"))

    def test_module_target_resolves_from_the_current_directory(self) -> None:
        done = flowkit("run", "pipelines.basic:pipeline", "-i", "count=2", cwd=HERE.parent)

        assert (done.returncode, summary(done.stdout)[1]) == (0, "success")

    def test_targets_run_only_what_they_need(self) -> None:
        done = flowkit("run", target("basic", "pipeline"), "-i", "count=2", "-t", "total")

        assert summary(done.stdout) == ("basic", "success", "2", "0", "0", "0")

    def test_the_console_script_runs_too(self) -> None:
        if not SCRIPT.exists():
            pytest.skip(f"flowkit is not installed as a console script at {SCRIPT}")
        done = flowkit("run", target("basic", "pipeline"), "-i", "count=1", script=True)

        assert (done.returncode, summary(done.stdout)[1]) == (0, "success")

    def test_a_file_target_pickles_by_name_into_worker_processes(self) -> None:
        done = flowkit(
            "run", target("basic", "pipeline"), "-i", "count=4", "--executor", "processes"
        )

        assert done.returncode == 0, done.stderr
        assert summary(done.stdout) == ("basic", "success", "4", "0", "1", "0")

    @pytest.mark.slow
    def test_dask_runs_a_file_target_on_a_local_cluster(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        args = ("run", target("basic"), "-i", "count=3", "--executor", "dask")
        done = flowkit(*args, "--result-json", out)

        assert done.returncode == 0, done.stderr
        assert json.loads(out.read_text())["stages"]["report"]["output"] == "sum=3"
        ours = [line for line in done.stderr.splitlines() if line.startswith("{")]
        assert json_lines("\n".join(ours))[-1]["event"] == "pipeline.succeeded"

    def test_inputs_a_stage_reads_from_its_context_are_accepted(self) -> None:
        done = flowkit("run", target("context_input"), "-i", "source=orders.csv")

        assert (done.returncode, summary(done.stdout)[1]) == (0, "success")


class TestLogs:
    def test_json_lines_on_stderr_when_it_is_not_a_terminal(self) -> None:
        done = flowkit("run", target("failing"), "--executor", "sequential")
        events = json_lines(done.stderr)

        assert [e["event"] for e in events] == [
            "pipeline.started",
            "stage.started",
            "stage.succeeded",
            "stage.started",
            "stage.retrying",
            "stage.started",
            "stage.failed",
            "stage.cancelled",
            "stage.cancelled",
            "pipeline.failed",
        ]
        assert all(ISO_UTC.match(e["timestamp"]) for e in events)
        assert [e["level"] for e in events if e["event"] != "stage.started"] == [
            "info", "info", "warning", "error", "warning", "warning", "error",
        ]  # fmt: skip
        assert len({e["run_id"] for e in events}) == 1
        failed = next(e for e in events if e["event"] == "stage.failed")
        assert (failed["stage"], failed["error_type"], failed["attempt"]) == (
            "bad",
            "ValueError",
            2,
        )

    def test_console_format_on_request(self) -> None:
        done = flowkit(
            "run", target("basic", "pipeline"), "-i", "count=1", "--log-format", "console"
        )
        lines = done.stderr.splitlines()

        assert len(lines) == 11
        assert all(
            re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[(info|warning|error)\s*\] ", x) for x in lines
        )
        assert "stage.succeeded" in lines[2]
        assert "\r" not in done.stderr  # no progress line when stderr is not a terminal

    def test_log_file_gets_json_lines_next_to_console_output(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        done = flowkit(
            "run", target("basic"), "-i", "count=1", "--log-format", "console", "--log-file", log
        )
        events = json_lines(log.read_text())

        assert done.returncode == 0
        assert len(events) == len(done.stderr.splitlines()) == 11
        assert (events[0]["event"], events[-1]["event"]) == (
            "pipeline.started",
            "pipeline.succeeded",
        )
        assert not done.stderr.lstrip().startswith("{")

    def test_log_file_appends_one_run_after_another(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        for _ in range(2):
            flowkit("run", target("basic"), "-i", "count=1", "--log-file", log)

        assert len({e["run_id"] for e in json_lines(log.read_text())}) == 2

    def test_secret_input_values_appear_in_no_log(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        secret = "hunter2-do-not-log"  # noqa: S105 - the point of the test
        done = flowkit("run", target("secret"), "-i", f"password={secret}", "--log-file", log)

        assert done.returncode == 0
        assert secret not in done.stderr + done.stdout + log.read_text()
        assert [e["event"] for e in json_lines(log.read_text())][-1] == "pipeline.succeeded"

    def test_lines_from_many_worker_threads_never_interleave(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        done = flowkit("run", target("wide", "builder"), "-w", "8", "--log-file", log)

        for text in (done.stderr, log.read_text()):
            events = json_lines(text)  # every line parses on its own
            assert len(events) == 2 * 40 + 2
            assert sum(e["event"] == "stage.succeeded" for e in events) == 40

    def test_a_reader_that_goes_away_does_not_stop_the_run(self, tmp_path: Path) -> None:
        log = tmp_path / "run.jsonl"
        command = [sys.executable, "-m", "flowkit", "run", target("wide", "builder"), "-w", "8"]
        process = subprocess.Popen(
            [*command, "--log-file", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        process.stderr.close()  # before the interpreter even started: every write fails
        stdout, _ = process.communicate(timeout=60)

        assert (process.returncode, summary(stdout.decode())[1]) == (0, "success")
        assert len(json_lines(log.read_text())) == 2 * 40 + 2  # the other sink kept going

    def test_a_bad_log_file_path_is_a_usage_error(self, tmp_path: Path) -> None:
        done = flowkit("run", target("basic"), "-i", "count=1", "--log-file", tmp_path / "no" / "x")

        assert (done.returncode, done.stderr.count("\n")) == (2, 1)
        assert "--log-file" in done.stderr


class TestResultJson:
    def test_statuses_timings_errors_and_json_outputs(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        done = flowkit("run", target("basic"), "-i", "count=3", "--result-json", out)
        result = json.loads(out.read_text())
        stages = result["stages"]

        assert done.returncode == 0
        assert (result["name"], result["status"], result["succeeded"], result["skipped"]) == (
            "basic", "success", 4, 1,
        )  # fmt: skip
        assert re.fullmatch(r"[0-9a-f]{32}", result["run_id"])
        assert result["duration"] >= 0
        assert list(stages) == ["numbers", "total", "report", "alert", "distinct"]
        assert stages["numbers"]["output"] == [0.0, 1.0, 2.0]
        assert stages["report"]["output"] == "sum=3"
        assert (stages["distinct"]["output_type"], "output" in stages["distinct"]) == ("set", False)
        assert (stages["alert"]["status"], stages["alert"]["skip_reason"]) == (
            "skipped", "condition is false",
        )  # fmt: skip
        assert stages["total"]["attempts"] == 1
        assert stages["total"]["cached"] is False

    def test_errors_are_recorded_by_type_and_message(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        flowkit("run", target("failing"), "--result-json", out)
        bad = json.loads(out.read_text())["stages"]["bad"]

        assert (bad["status"], bad["attempts"]) == ("failed", 2)
        assert bad["error"] == {"type": "ValueError", "message": "the data is bad"}

    def test_cache_dir_makes_the_second_run_load_the_cached_stage(self, tmp_path: Path) -> None:
        out, log = tmp_path / "result.json", tmp_path / "run.jsonl"
        args = ("run", target("cached"), "-i", "n=21", "--cache", tmp_path / "cache")
        first = flowkit(*args)
        second = flowkit(*args, "--result-json", out, "--log-file", log)
        stages = json.loads(out.read_text())["stages"]

        assert (first.returncode, second.returncode) == (0, 0), second.stderr
        assert (stages["double"]["cached"], stages["double"]["output"]) == (True, 42)
        assert stages["show"]["cached"] is False
        hit = [e for e in json_lines(log.read_text()) if e.get("stage") == "double"]
        assert [(e["event"], e.get("cached")) for e in hit] == [("stage.succeeded", True)]


class TestInputs:
    TYPED = (
        "-i", "n=3", "-i", "x=2", "-i", "flag=YES", "-i", "path=/tmp/a", "-i", "name=bob",
        "-i", "items=[1, 2]", "-i", 'mapping={"a": 1}', "-i", "url=[\"ab\", \"c\"]",
    )  # fmt: skip

    def run_typed(self, tmp_path: Path, *extra: str) -> dict[str, list[str]]:
        out = tmp_path / "result.json"
        done = flowkit("run", target("typed"), *self.TYPED, *extra, "--result-json", out)
        assert done.returncode == 0, done.stderr
        stages = json.loads(out.read_text())["stages"]
        assert stages["fetch"]["output"] == [2, 1]  # map_over: the input is a list of items
        return stages["echo"]["output"]  # type: ignore[no-any-return]

    def test_values_are_converted_to_the_annotated_types(self, tmp_path: Path) -> None:
        echoed = self.run_typed(tmp_path, "-i", "maybe=7", "-i", "mode=slow")

        assert echoed == {
            "n": ["int", "3"],
            "x": ["float", "2.0"],
            "flag": ["bool", "True"],
            "path": ["PosixPath", "/tmp/a"],
            "name": ["str", "bob"],
            "items": ["list", "[1, 2]"],
            "mapping": ["dict", "{'a': 1}"],
            "maybe": ["int", "7"],
            "mode": ["str", "slow"],
        }

    @pytest.mark.parametrize(
        ("word", "expected"),
        [("true", "True"), ("1", "True"), ("No", "False"), ("FALSE", "False"), ("0", "False")],
    )
    def test_booleans_accept_the_usual_words(
        self, tmp_path: Path, word: str, expected: str
    ) -> None:
        assert self.run_typed(tmp_path, "-i", f"flag={word}")["flag"] == ["bool", expected]

    def test_optional_input_accepts_none(self, tmp_path: Path) -> None:
        assert self.run_typed(tmp_path, "-i", "maybe=null")["maybe"] == ["NoneType", "None"]

    def test_inputs_file_then_i_wins(self, tmp_path: Path) -> None:
        toml = tmp_path / "inputs.toml"
        toml.write_text('n = 5\nname = "from-file"\nflag = "yes"\n')
        echoed = self.run_typed(tmp_path, "--inputs", str(toml), "-i", "n=9")

        assert (echoed["n"], echoed["name"], echoed["flag"]) == (
            ["int", "9"], ["str", "bob"], ["bool", "True"],
        )  # fmt: skip

    def test_json_inputs_file(self, tmp_path: Path) -> None:
        data = tmp_path / "inputs.json"
        data.write_text(json.dumps({"count": 2, "scale": 3, "label": "t"}))
        out = tmp_path / "result.json"
        done = flowkit("run", target("basic"), "--inputs", data, "--result-json", out)
        stages = json.loads(out.read_text())["stages"]

        assert done.returncode == 0
        assert (stages["numbers"]["output"], stages["report"]["output"]) == ([0.0, 3.0], "t=3")

    @pytest.mark.parametrize(
        ("pair", "message"),
        [
            ("n=abc", "invalid value for input 'n': expected int"),
            ("x=fast", "invalid value for input 'x': expected float"),
            ("flag=maybe", "invalid value for input 'flag': expected bool (true/false/1/0/yes/no)"),
            ("items=1,2", "invalid value for input 'items': expected list[int] (as JSON)"),
            ('items=["a"]', "invalid value for input 'items': expected list[int] (as JSON)"),
            ("mapping=[1]", "invalid value for input 'mapping': expected dict[str, int]"),
            ("nmae=3", "unknown input 'nmae' (did you mean 'name'?)"),
            ("echo=3", "input 'echo' names stage 'echo' of pipeline 'typed'"),
            ("novalue", "-i expects NAME=VALUE"),
        ],
    )
    def test_bad_values_and_names_are_usage_errors(self, pair: str, message: str) -> None:
        done = flowkit("run", target("typed"), *self.TYPED, "-i", pair)

        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.startswith(f"Error: {message}")
        assert done.stderr.count("\n") == 1
        assert "abc" not in done.stderr  # the rejected value is not echoed (it may be secret)

    def test_a_missing_required_input_is_a_usage_error(self) -> None:
        done = flowkit("run", target("basic"))

        assert done.returncode == 2
        assert done.stderr.startswith("Error: missing required input(s): 'count'")

    def test_a_malformed_inputs_file_is_a_usage_error(self, tmp_path: Path) -> None:
        bad = tmp_path / "inputs.json"
        bad.write_text("{not json")
        done = flowkit("run", target("basic"), "--inputs", bad)

        assert (done.returncode, done.stderr.count("\n")) == (2, 1)
        assert "cannot read inputs from" in done.stderr
