"""``flowkit list | graph | validate``, ``--version``, ``--help``, target resolution and usage
errors, through the real entry point in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pipelines import HERE, flowkit, target

import flowkit as flowkit_package


def one_line_error(done: subprocess.CompletedProcess[str], starts: str) -> None:
    """Exit code 2, nothing on stdout, one line on stderr starting with ``starts``."""
    assert (done.returncode, done.stdout) == (2, "")
    stderr = done.stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"Error: {starts}"), stderr
    assert "Traceback" not in stderr


class TestTopLevel:
    def test_version(self) -> None:
        done = flowkit("--version")

        assert (done.returncode, done.stdout) == (
            0,
            f"flowkit, version {flowkit_package.__version__}\n",
        )

    @pytest.mark.parametrize("command", ["", "run", "list", "graph", "validate", "inspect"])
    def test_help_everywhere(self, command: str) -> None:
        done = flowkit(*command.split(), "--help")

        assert done.returncode == 0
        assert done.stdout.startswith(f"Usage: flowkit {command}".rstrip() + " ")

    def test_a_misspelt_command_gets_a_suggestion(self) -> None:
        one_line_error(flowkit("rnu", "x"), "no such command 'rnu' (did you mean 'run'?)")

    def test_an_unknown_flag_is_one_line(self) -> None:
        one_line_error(flowkit("run", target("basic"), "--bogus"), "No such option '--bogus'")

    def test_a_bad_flag_value_is_one_line(self) -> None:
        one_line_error(flowkit("run", target("basic"), "-w", "0"), "Invalid value for '-w'")

    def test_dask_address_with_another_executor_is_a_usage_error(self) -> None:
        done = flowkit("run", target("basic"), "--executor", "threads", "--dask-address", "x:1")

        one_line_error(done, "--dask-address needs --executor dask")

    def test_an_unreachable_dask_scheduler_is_one_line(self) -> None:
        done = flowkit(
            "run", target("basic"), "-i", "count=1", "--dask-address", "tcp://127.0.0.1:1",
            env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"},
            )  # fmt: skip
        stderr = done.stderr.splitlines()

        assert (done.returncode, done.stdout) == (2, "")
        assert stderr[-1].startswith("Error: OSError (Dask scheduler tcp://127.0.0.1:1): ")
        assert "Traceback" not in done.stderr

    def test_a_broken_cache_module_leaves_the_other_commands_working(self) -> None:
        code = (
            "import sys\n"
            "class Broken:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'flowkit.cli._cache':\n"
            "            raise RuntimeError('half-written')\n"
            "sys.meta_path.insert(0, Broken())\n"
            "from flowkit.cli import main; main()\n"
        )
        listed = flowkit_with(code, "list", target("basic"))
        cache = flowkit_with(code, "cache", "info", "somewhere")

        assert listed.returncode == 0
        one_line_error(cache, "the cache commands failed to load: RuntimeError: half-written")

    def test_dask_missing_says_how_to_install_it(self) -> None:
        code = (
            "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
            "from flowkit.cli import main; main()"
        )
        done = flowkit_with(code, "run", target("basic"), "-i", "count=1", "--executor", "dask")

        one_line_error(done, '--executor dask needs Dask: pip install "flowkit[dask]"')

    def test_no_command_shows_the_commands(self) -> None:
        done = flowkit()

        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.startswith("Usage: flowkit [OPTIONS] COMMAND [ARGS]...")
        for command in ("run", "list", "graph", "validate", "inspect"):
            assert f"\n  {command} " in done.stderr


def flowkit_with(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI through ``python -c CODE`` (to change the interpreter's state first)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, timeout=60
    )


class TestTargets:
    def test_a_missing_attribute_suggests_and_lists_what_is_there(self) -> None:
        one_line_error(
            flowkit("list", target("basic", "pipelin")),
            "'pipelines.basic' has no attribute 'pipelin' (did you mean 'pipeline'?); "
            "pipelines there: pipeline, built",
        )

    def test_an_attribute_that_is_not_a_pipeline(self) -> None:
        one_line_error(
            flowkit("list", target("basic", "not_a_pipeline")),
            f"'{target('basic', 'not_a_pipeline')}' is of type int, not a Pipeline",
        )

    def test_a_missing_file_suggests_a_close_one(self) -> None:
        done = flowkit("list", str(HERE / "basik.py"))

        one_line_error(done, f"'{HERE / 'basik.py'}' not found (did you mean 'basic.py'?)")

    def test_a_missing_module_suggests_a_close_one(self) -> None:
        done = flowkit("list", "pipelines.basik", cwd=HERE.parent)

        one_line_error(done, "no module named 'pipelines.basik' (did you mean 'basic'?)")

    def test_a_module_that_fails_to_import_names_the_error_and_line(self) -> None:
        one_line_error(
            flowkit("list", target("import_error")),
            "importing 'pipelines.import_error' failed: RuntimeError: this module is broken "
            f"on purpose ({HERE / 'import_error.py'}:3)",
        )

    def test_a_module_without_stages(self) -> None:
        one_line_error(
            flowkit("list", target("no_stages")), "module 'pipelines.no_stages' defines no stages"
        )

    def test_a_definition_error_exits_2(self) -> None:
        for command in ("run", "validate"):
            one_line_error(flowkit(command, target("broken")), "cycle: a -> b -> a")

    def test_a_relative_file_path_from_another_directory(self) -> None:
        done = flowkit("list", "pipelines/basic.py", cwd=HERE.parent)

        assert (done.returncode, done.stdout.splitlines()[0]) == (0, "pipeline basic: 5 stage(s)")


class TestList:
    def test_inputs_then_stages_in_order_with_dependencies_and_options(self) -> None:
        done = flowkit("list", target("basic", "pipeline"))
        lines = done.stdout.splitlines()

        assert done.returncode == 0
        assert lines[:7] == [
            "pipeline basic: 5 stage(s)",
            "inputs:",
            "  NAME   TYPE   KIND      DEFAULT  USED BY",
            "  count  int    required  -        numbers",
            "  scale  float  optional  1.0      numbers",
            "  label  str    optional  'sum'    report",
            "  loud   bool   optional  False    report",
        ]
        rows = [line.split(None, 2) for line in lines[9:]]
        assert [row[1] for row in rows[1:]] == ["numbers", "total", "report", "alert", "distinct"]
        report, alert = lines[12], lines[13]
        assert "total" in report
        assert report.endswith("label, loud   retries=2 backoff=0.1s timeout=30s tags=report")
        assert "total, report (order only)" in alert
        assert alert.endswith("when=<lambda>")

    def test_map_over_and_postponed_annotations(self) -> None:
        done = flowkit("list", target("typed"))

        assert "  items    list[int]                required  -        echo" in done.stdout
        assert "  url      list[str]                required  -        fetch" in done.stdout
        assert done.stdout.rstrip().endswith(
            "url                                                  map_over=url"
        )


class TestGraph:
    def test_mermaid_by_default(self) -> None:
        done = flowkit("graph", target("basic"))

        assert done.returncode == 0
        assert done.stdout.startswith("%% pipeline basic\nflowchart TD\n")
        assert "    numbers --> total\n" in done.stdout

    def test_dot(self) -> None:
        done = flowkit("graph", target("basic"), "--format", "dot")

        assert done.stdout.startswith('digraph "basic" {\n')
        assert '    "numbers" -> "total";\n' in done.stdout


class TestValidate:
    def test_without_inputs_checks_the_definition_and_lists_the_inputs(self) -> None:
        done = flowkit("validate", target("basic"))

        assert done.returncode == 0
        assert done.stdout.splitlines()[:4] == [
            "pipeline basic: definition OK (5 stage(s))",
            "inputs:",
            "  NAME   TYPE   KIND      DEFAULT  USED BY",
            "  count  int    required  -        numbers",
        ]

    def test_with_inputs_checks_them_too(self) -> None:
        done = flowkit("validate", target("basic"), "-i", "count=2", "-i", "loud=yes")

        assert (done.returncode, done.stdout.splitlines()[1]) == (
            0,
            "inputs OK (given: count, loud)",
        )

    def test_a_missing_required_input(self) -> None:
        done = flowkit("validate", target("basic"), "-i", "label=x")

        one_line_error(done, "missing required input(s): 'count' (needed by 'numbers')")

    def test_a_bad_value(self) -> None:
        done = flowkit("validate", target("basic"), "-i", "count=many")

        one_line_error(done, "invalid value for input 'count': expected int")

    def test_runs_nothing(self, tmp_path: Path) -> None:
        done = flowkit("validate", target("basic"), "-i", "count=1")

        assert done.stderr == ""  # no event at all: nothing ran
