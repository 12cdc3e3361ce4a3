"""Text and JSON the CLI prints about a pipeline and a run: ``list``, ``validate``, the run
summary and ``--result-json``.

Input values (pipeline context, defaults) are never shown: names and types are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._pipeline import Pipeline
from flowkit._results import PipelineResult, StageResult, StageStatus
from flowkit._retry import Retry
from flowkit._stage import Stage
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


def stage_options(stage: Stage) -> list[str]:
    """The options that differ from the defaults, as ``key=value`` strings."""
    retry, options = stage.retry, []
    if retry.attempts > 1:
        options.append(f"retries={retry.attempts - 1}")
        if retry.backoff:
            options.append(f"backoff={retry.backoff:g}s")
        if retry.max_backoff != _DEFAULT_RETRY.max_backoff:
            options.append(f"max_backoff={retry.max_backoff:g}s")
        if retry.jitter:
            options.append("jitter")
        if retry.on != _DEFAULT_RETRY.on:
            options.append(f"retry_on={','.join(t.__name__ for t in retry.on)}")
    if stage.timeout is not None:
        options.append(f"timeout={stage.timeout:g}s")
    if isinstance(stage, ConditionalStage):
        options.append(f"when={_name(stage.condition)}")
    if stage.map_over is not None:
        options.append(f"map_over={stage.map_over}")
    if isinstance(stage, ParallelStage):
        options.append(f"parallel=[{', '.join(child.name for child in stage.stages)}]")
    if stage.tags:
        options.append(f"tags={','.join(sorted(stage.tags))}")
    if stage.cache:
        options.append("cache" + (f" version={stage.version}" if stage.version else ""))
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
            _names(spec.stages),
        )
        for name, spec in specs.items()
    ]
    return ["inputs:", *table(("NAME", "TYPE", "KIND", "USED BY"), rows)]


def _names(names: Sequence[str], most: int = 6) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, ... ({len(names)} stages)"


def describe(pipeline: Pipeline) -> str:
    """``flowkit list``: the inputs, then the stages in order with their dependencies, the
    inputs they take and their options."""
    specs = pipeline.inputs
    rows = []
    for number, name in enumerate(pipeline.order, 1):
        stage = pipeline.stages[name]
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


def summary(result: PipelineResult) -> str:
    """The one-line run summary."""
    return (
        f"pipeline {result.name} {result.status.value} in {result.duration:.2f}s: "
        f"{result.succeeded} succeeded, {result.failed} failed, {result.skipped} skipped, "
        f"{result.cancelled} cancelled"
    )


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
