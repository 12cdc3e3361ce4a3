"""Stages with several named outputs (``@stage(outputs=("train", "test"))``).

The producing stage keeps its name and its output becomes ``{output_name: value}``; each
output name is a small projection stage of its own (`OutputStage`) that picks its value,
so the engine only ever sees a plain DAG and every executor runs it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._base import Stage
from flowkit._split import split_outputs
from flowkit.errors import DuplicateStageError


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class OutputStage(Stage):
    """The node of one named output: picks it from its producer's output."""

    source: str
    output: str
    names: tuple[str, ...]

    def __init__(self, source: str, output: str, names: tuple[str, ...]) -> None:
        self.__attrs_init__(source=source, output=output, names=names, name=output)

    @property
    def parameters(self) -> tuple[str, ...]:
        return (self.source,)

    def execute(self, kwargs: dict[str, Any]) -> object:
        value = kwargs[self.source]
        # An override of the producer may be given as the tuple or mapping it would return.
        if not (type(value) is dict and value.keys() == set(self.names)):
            value = split_outputs(self.source, self.names, value)
        return value[self.output]

    def __repr__(self) -> str:
        return f"<OutputStage {self.output!r} of {self.source!r}>"


def with_outputs(stages: Mapping[str, Stage]) -> Mapping[str, Stage]:
    """``stages`` with an `OutputStage` after each stage that declares ``outputs``.

    Raises:
        DuplicateStageError: An output name is also the name of another stage or output.
    """
    if not any(stage.outputs for stage in stages.values()):
        return stages
    expanded: dict[str, Stage] = {}
    for name, stage in stages.items():
        expanded[name] = stage
        for output in stage.outputs or ():
            if output in stages or output in expanded:
                raise DuplicateStageError(output)
            expanded[output] = OutputStage(name, output, stage.outputs)  # type: ignore[arg-type]
    return expanded
