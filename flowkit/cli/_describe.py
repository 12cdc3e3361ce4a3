"""Text and JSON the CLI prints about a pipeline and a run: ``list``, ``validate``, the run
summary and ``--result-json``.

Input values given at run time or in a builder's context are never shown: names, types
and the defaults written in the code are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._nested import CollectorStage, NestedStage
from flowkit._outputs import OutputStage
from flowkit._pipeline import Pipeline
from flowkit._results import PipelineResult, StageResult
from flowkit._retry import Retry
from flowkit._stage import Stage
from flowkit._status import StageStatus
from flowkit._traceback import format_error
from flowkit.cli._inputs import annotation_of, type_label

_DEFAULT_RETRY = Retry()


def table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns (the last one unpadded)."""
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)


def _retry_options(retry: Retry) -> list[str]:
    if retry.attempts <= 1:
        return []
    backoff = retry.backoff
    on = retry.on
    shown = {
        f"retries={retry.attempts - 1}": True,
        f"backoff={','.join(f'{d:g}' for d in backoff)}s"
        if isinstance(backoff, tuple)
        else f"backoff={backoff:g}s": bool(backoff),
        f"max_backoff={retry.max_backoff:g}s": retry.max_backoff != _DEFAULT_RETRY.max_backoff,
        "jitter": retry.jitter,
        f"retry_on={','.join(t.__name__ for t in on) if isinstance(on, tuple) else _name(on)}": (
            on != _DEFAULT_RETRY.on
        ),
    }
    return [option for option, differs in shown.items() if differs]


def _kind_options(stage: Stage) -> list[str]:
    if isinstance(stage, ConditionalStage):
        return [f"when={_name(stage.condition)}"]
    if isinstance(stage, ParallelStage):
        return [f"parallel=[{', '.join(child.name for child in stage.stages)}]"]
    if isinstance(stage, OutputStage):
        return [f"output of {stage.source}"]
    if isinstance(stage, CollectorStage):
        return [f"nested pipeline: {', '.join(stage.picks.values())}"]
    if isinstance(stage, NestedStage):
        return [*_kind_options(stage.inner), f"in {stage.name.rpartition('.')[0]}"]
    return []


def stage_options(stage: Stage) -> list[str]:
    """The options that differ from the defaults, as ``key=value`` strings."""
    options = _retry_options(stage.retry)
    if stage.timeout is not None:
        options.append(f"timeout={stage.timeout:g}s")
    options += _kind_options(stage)
    if stage.map_over is not None:
        options.append(f"map_over={stage.map_over}")
    if stage.tags:
        options.append(f"tags={','.join(sorted(stage.tags))}")
    if stage.outputs:
        options.append(f"outputs={','.join(stage.outputs)}")
    if stage.cache:
        options.append("cache" + (f" version={stage.version}" if stage.version else ""))
        if stage.cache_ttl is not None:
            options.append(f"cache_ttl={stage.cache_ttl:g}s")
    hooks = {"on_success": stage.on_success, "on_failure": stage.on_failure}
    options.extend(f"{key}={_name(hook)}" for key, hook in hooks.items() if hook is not None)
    return options


def _inputs_lines(pipeline: Pipeline) -> list[str]:
    specs = pipeline.inputs
    if not specs:
        return ["inputs: (none)"]
    given = pipeline.context
    rows = [
        (
            name,
            type_label(annotation_of(pipeline, name)),
            "context" if name in given else "required" if spec.required else "optional",
            "-" if spec.required or name in given else _default_text(spec.default),
            _names(spec.stages),
        )
        for name, spec in specs.items()
    ]
    return ["inputs:", *table(("NAME", "TYPE", "KIND", "DEFAULT", "USED BY"), rows)]


def _default_text(value: Any, most: int = 40) -> str:
    """A parameter default as written in the code (a builder's context values are never
    shown: they may be secrets)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a default whose repr raises still gets a cell
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= most else text[: most - 3] + "..."


def _names(names: Sequence[str], most: int = 6) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, ... ({len(names)} stages)"


def describe(pipeline: Pipeline) -> str:
    """``flowkit list``: the inputs, then the stages in order with their dependencies, the
    inputs they take and their options."""
    specs = pipeline.inputs
    stages = pipeline._compiled().stages  # noqa: SLF001 - outputs and nested stages too
    rows = []
    for number, name in enumerate(pipeline.order, 1):
        stage = stages[name]
        deps = [
            dep if dep in stage.parameters else f"{dep} (order only)"
            for dep in pipeline.dependencies(name)
        ]
        taken = [p for p in stage.parameters if p in specs]
        rows.append(
            (
                str(number),
                name,
                ", ".join(deps) or "-",
                ", ".join(taken) or "-",
                " ".join(stage_options(stage)) or "-",
            )
        )
    lines = [f"pipeline {pipeline.name}: {len(rows)} stage(s)", *_inputs_lines(pipeline), ""]
    lines.append("stages:")
    lines += table(("#", "STAGE", "DEPENDS ON", "INPUTS", "OPTIONS"), rows)
    return "\n".join(lines)


def validation_report(pipeline: Pipeline, checked: Mapping[str, Any] | None) -> str:
    """``flowkit validate``'s success text."""
    lines = [f"pipeline {pipeline.name}: definition OK ({len(pipeline.order)} stage(s))"]
    if checked is None:
        lines += _inputs_lines(pipeline)
    else:
        names = ", ".join(sorted(checked)) or "none given"
        lines.append(f"inputs OK (given: {names})")
    return "\n".join(lines)


def summary(result: PipelineResult, pipeline: Pipeline | None = None) -> str:
    """The one-line run summary, then one ``FAILED name: Error: message (attempt n of m)``
    line per failed stage (``m`` from ``pipeline``'s retry settings when given)."""
    counts = (
        f"{result.succeeded} succeeded, {result.failed} failed, {result.skipped} skipped, "
        f"{result.cancelled} cancelled"
    )
    lines = [f"pipeline {result.name} {result.status.value} in {result.duration:.2f}s: {counts}"]
    stages = pipeline._compiled().stages if pipeline is not None else {}  # noqa: SLF001
    for name, stage in result.stages.items():
        if stage.status is StageStatus.FAILED:
            allowed = stages[name].retry.attempts if name in stages else stage.attempts
            lines.append(failure_line(stage, allowed))
    return "\n".join(lines)


def failure_line(result: StageResult, allowed: int) -> str:
    """``FAILED clean_orders: KeyError: 'b' (attempt 3 of 3)``: the error's first line."""
    error = result.error
    what = "unknown error" if error is None else type(error).__name__
    message = str(error).strip().partition("\n")[0] if error is not None else ""
    if message:
        what += f": {message}"
    attempts = max(result.attempts, 1)
    return f"FAILED {result.name}: {what} (attempt {attempts} of {max(allowed, attempts)})"


def _stage_json(result: StageResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": result.status.value,
        "attempts": result.attempts,
        "duration": result.duration,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "error": None
        if result.error is None
        else {"type": type(result.error).__name__, "message": str(result.error)},
        "exception": None if result.error is None else format_error(result.error),
        "skip_reason": result.skip_reason,
        "cached": result.cached,
    }
    if result.status is StageStatus.SUCCESS:
        data["output_type"] = type(result.output).__qualname__
        try:
            json.dumps(result.output, allow_nan=False)
            data["output"] = result.output
        except (TypeError, ValueError, OverflowError, RecursionError):
            pass  # not JSON: only its type is recorded
    if result.children:
        data["children"] = {name: _stage_json(r) for name, r in result.children.items()}
    return data


def result_json(result: PipelineResult) -> str:
    """``--result-json``: the run as a JSON document (outputs only when they are JSON)."""
    document = {
        "run_id": result.run_id,
        "name": result.name,
        "status": result.status.value,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration": result.duration,
        "succeeded": result.succeeded,
        "failed": result.failed,
        "skipped": result.skipped,
        "cancelled": result.cancelled,
        "stages": {name: _stage_json(r) for name, r in result.stages.items()},
    }
    return json.dumps(document, indent=2) + "\n"
