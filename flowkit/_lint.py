"""Definitions that are valid but probably a mistake, for ``flowkit validate`` and ``flowkit
list`` to warn about (a run never fails on them: only missing inputs fail it)."""

from __future__ import annotations

from flowkit._pipeline import Pipeline


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one inserted, deleted or replaced
    character."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    prefix = 0
    while prefix < len(a) and a[prefix] == b[prefix]:
        prefix += 1
    skip_b = prefix + 1
    skip_a = prefix + (len(a) == len(b))  # a replacement skips a character in both
    return a[skip_a:] == b[skip_b:]


def lookalike_inputs(pipeline: Pipeline) -> list[tuple[str, str]]:
    """``(input, stage)`` pairs where the input's name is one edit away from a stage's name:
    most likely a misspelt dependency (``def report(parsd)`` beside a stage ``parsed``)."""
    return [
        (name, stage)
        for name in pipeline.inputs
        for stage in pipeline.stages
        if one_edit_apart(name, stage)
    ]


def warnings_for(pipeline: Pipeline) -> list[str]:
    """One warning line per lookalike input."""
    return [
        f"warning: input {name!r} looks like stage {stage!r}; if it is meant to be that "
        f"stage's output, rename the parameter to {stage!r}"
        for name, stage in lookalike_inputs(pipeline)
    ]
