"""The ``flowkit`` command: run, list, graph, validate and inspect pipelines.

Exit codes: 0 success; 1 the pipeline failed; 2 a usage, target or definition error (one
line on stderr, no traceback); 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

import flowkit
from flowkit._lint import warnings_for
from flowkit._pipeline import Pipeline
from flowkit._report import render_html
from flowkit._runlog import read_log
from flowkit.cli._describe import describe, summary, validation_report
from flowkit.cli._describe import result_json as result_document
from flowkit.cli._graph import graph
from flowkit.cli._inputs import collect_inputs
from flowkit.cli._inspect import render, render_stage
from flowkit.cli._logging import LOG_LEVELS, configure
from flowkit.cli._output import echo as _echo
from flowkit.cli._output import write_output
from flowkit.cli._run import EXECUTOR_NAMES, make_executor, parse_limits
from flowkit.cli._target import load_target
from flowkit.cli._usage import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageFailure
from flowkit.errors import FlowkitError, InvalidLimitError, PipelineInterrupted, did_you_mean

_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_target_argument = click.argument("target")
_input_options = (
    click.option(
        "-i",
        "--input",
        "pairs",
        multiple=True,
        metavar="NAME=VALUE",
        help="A pipeline input, converted to the parameter's annotated type (repeatable).",
    ),
    click.option(
        "--inputs",
        "inputs_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Inputs from a .json or .toml file (-i wins over it).",
    ),
)


def _with_inputs(fn: Any) -> Any:
    for option in reversed(_input_options):
        fn = option(fn)
    return fn


class _Group(click.Group):
    """A group that suggests the closest command for a misspelt one."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise UsageFailure(
                f"no such command {name!r}{did_you_mean(name, self.list_commands(ctx))}", ctx=ctx
            )
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings=_SETTINGS)
@click.version_option(flowkit.__version__, "-V", "--version", prog_name="flowkit")
def cli() -> None:
    """Run flowkit pipelines: plain functions whose parameters name their dependencies.

    TARGET is package.module:attr, path/to/file.py:attr, or a module or file alone (all
    the stages it defines). The attribute may be a Pipeline or a PipelineBuilder.
    """


@cli.command()
@_target_argument
@_with_inputs
@click.option("-t", "--target", "targets", multiple=True, metavar="STAGE",
              help="Run only this stage and what it needs (repeatable).")  # fmt: skip
@click.option("--executor", type=click.Choice(EXECUTOR_NAMES), help="Where stages run "
              "(default: threads). dask needs `pip install \"flowkit[dask]\"`.")  # fmt: skip
@click.option("-w", "--workers", type=click.IntRange(min=1), help="Concurrency limit.")
@click.option("--fail-fast/--no-fail-fast", default=None,
              help="Stop starting stages after a failure (default: the pipeline's).")  # fmt: skip
@click.option("--log-format", type=click.Choice(("console", "json")),
              help="stderr log format (default: console on a terminal, else json).")  # fmt: skip
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              help="Least severe events on stderr (--log-file gets info and up).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only (--log-level warning).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append the events to this file as JSON lines.")  # fmt: skip
@click.option("--result-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the run's result (statuses, timings, JSON outputs) here.")  # fmt: skip
@click.option("--dask-address", metavar="ADDR",
              help="Scheduler of the Dask cluster (implies --executor dask).")  # fmt: skip
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Load/store the outputs of cache=True stages in this directory.")  # fmt: skip
@click.option("--refresh", "refresh", multiple=True, metavar="NAME",
              help="Recompute this cached stage and store it again (repeatable).")  # fmt: skip
@click.option("--refresh-all", is_flag=True, help="Recompute every cached stage.")
@click.option("--limit", "limits", multiple=True, metavar="TAG=N",
              help="Run at most N stages tagged TAG at once (repeatable).")  # fmt: skip
def run(  # noqa: PLR0917 - click passes every option as an argument
    target: str,
    pairs: Sequence[str],
    inputs_file: Path | None,
    targets: Sequence[str],
    executor: str | None,
    workers: int | None,
    fail_fast: bool | None,
    log_format: str | None,
    log_level: str,
    quiet: bool,
    log_file: Path | None,
    result_json: Path | None,
    dask_address: str | None,
    cache_dir: str | None,
    refresh: Sequence[str],
    refresh_all: bool,
    limits: Sequence[str],
) -> int:
    """Run a pipeline; print a one-line summary, then one line per failed stage. Logs go
    to stderr.

    Exit code 0 when it succeeded, 1 when it failed, 130 when interrupted.
    """
    pipeline = load_target(target)
    inputs = collect_inputs(pipeline, pairs, inputs_file)
    runner, limit_of = make_executor(executor, dask_address), parse_limits(limits)
    for path, flag in ((log_file, "--log-file"), (result_json, "--result-json")):
        if path is not None and not path.resolve().parent.is_dir():
            message = f"directory {str(path.parent)!r} does not exist"
            raise UsageFailure(message, option=flag)
    level = "warning" if quiet else log_level
    try:
        output = configure(log_format, log_file, pipeline.order, level)
    except OSError as error:
        raise UsageFailure(str(error), option="--log-file") from None
    try:
        # run() itself turns SIGTERM into an interrupt, like Ctrl-C.
        result = pipeline.run(
            inputs,
            targets=targets or None,
            executor=runner,
            max_workers=workers,
            fail_fast=fail_fast,
            cache=cache_dir,
            refresh=True if refresh_all else (refresh or None),
            limits=limit_of,
        )
    except InvalidLimitError as error:
        raise UsageFailure(str(error), option="--limit") from None
    except PipelineInterrupted as interrupted:  # the summary and result still follow: exit 130
        result = interrupted.result
    except OSError as error:  # e.g. an unreachable Dask scheduler or an unusable cache
        where = f" (Dask scheduler {dask_address})" if dask_address else ""
        raise UsageFailure(f"{type(error).__name__}{where}: {error}") from None
    finally:
        output.close()
    _echo(summary(result, pipeline))
    if result_json is not None:
        result_json.write_text(result_document(result), encoding="utf-8")
    return EXIT_CODES[result.status]


@cli.command("list")
@_target_argument
def list_stages(target: str) -> None:
    """List the inputs, then the stages in order with their dependencies, inputs and
    options."""
    pipeline = load_target(target)
    _warn(warnings_for(pipeline))
    _echo(describe(pipeline))


@cli.command()
@_target_argument
@_with_inputs
def validate(target: str, pairs: Sequence[str], inputs_file: Path | None) -> None:
    """Check the definition (and, given inputs, that every required one is there); runs
    nothing. Without inputs it lists the pipeline's inputs."""
    pipeline: Pipeline = load_target(target)
    pipeline.validate()
    _warn(warnings_for(pipeline))
    checked = None
    if pairs or inputs_file is not None:
        checked = collect_inputs(pipeline, pairs, inputs_file)
        pipeline.validate(checked)
    _echo(validation_report(pipeline, checked))


@cli.command()
@click.argument("logfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--width", type=click.IntRange(min=10), default=60, show_default=True,
              help="Columns of the timeline.")  # fmt: skip
@click.option("--stage", metavar="NAME",
              help="Show one stage's attempts: start, duration, outcome, traceback.")  # fmt: skip
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report (DAG, timeline, errors) "
              "here instead.")  # fmt: skip
def inspect(logfile: Path, width: int, stage: str | None, html_file: Path | None) -> None:
    """Rebuild the run(s) in a JSON-lines event log: each stage's status, attempts,
    duration and error (with the traceback of each failed stage), the outcome, and a
    timeline. Exit code 0 whatever the outcome."""
    runs, notes = read_log(logfile)
    if html_file is not None:
        write_output(html_file, render_html(runs.values(), notes), "--html")
        _echo(f"wrote {html_file} ({len(runs)} run(s))")
        return
    if stage is None:
        _echo(render(runs, notes, width))
        return
    try:
        _echo(render_stage(runs, stage))
    except KeyError as error:
        raise UsageFailure(error.args[0], option="--stage") from None


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


def _register_cache_group() -> None:
    """Add ``flowkit cache`` from ``flowkit.cli._cache`` when it exists. If it fails to load,
    every other command still works and ``flowkit cache`` says why it cannot."""
    try:
        from flowkit.cli import _cache as _cache_cli
    except ModuleNotFoundError as error:
        if error.name == "flowkit.cli._cache":
            return
        problem: Exception = error
    except Exception as error:  # noqa: BLE001 - a broken optional module must not take the CLI down
        problem = error
    else:
        group = getattr(_cache_cli, "cache", None)
        if isinstance(group, click.Command):
            cli.add_command(group, "cache")
        return

    @cli.command(
        "cache",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def unavailable() -> None:
        """Inspect or clear a cache directory (unavailable: see `flowkit cache`)."""
        reason = f"{type(problem).__name__}: {problem}"
        raise UsageFailure(f"the cache commands failed to load: {reason}")


cli.add_command(graph)
_register_cache_group()


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console script: run the CLI and exit with its code."""
    try:
        code = cli.main(args=argv, prog_name="flowkit", standalone_mode=False)
    except (click.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()  # `flowkit` alone: the help, on stderr like click does
        code = error.exit_code
    except (click.UsageError, UsageFailure) as error:
        hint = ""
        if error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        _fail(error.format_message().replace("\n", " ") + hint)
        code = error.exit_code
    except click.ClickException as error:
        _fail(error.format_message().replace("\n", " "))
        code = error.exit_code
    except FlowkitError as error:
        _fail(str(error).replace("\n", " "))
        code = EXIT_USAGE
    sys.exit(code if isinstance(code, int) else EXIT_OK)
