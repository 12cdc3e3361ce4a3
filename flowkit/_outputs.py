"""Stages with several named outputs (``@stage(outputs=("train", "test"))``).

The producing stage keeps its name and its output becomes ``{output_name: value}``; each
output name is a small projection stage of its own (`OutputStage`) that picks its value,
so the engine only ever sees a plain DAG and every executor runs it unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._base import Stage
from flowkit._stage import FunctionStage, P, R
from flowkit.errors import DuplicateStageError, StageOutputError


def split_outputs(stage: str, names: tuple[str, ...], value: object) -> dict[str, Any]:
    """``value`` (a tuple/list in ``names`` order, or a mapping with every name) as a dict.

    Raises:
        StageOutputError: The tuple has the wrong length or the mapping lacks a name.
    """
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        if missing:
            raise StageOutputError(
                stage,
                missing[0],
                f"stage {stage!r} declares outputs {names!r} but the mapping it returned has "
                f"no key {missing[0]!r}; return a mapping with every output name as a key",
            )
        return {n: value[n] for n in names}
    if isinstance(value, tuple | list):
        if len(value) != len(names):
            raise StageOutputError(
                stage,
                None,
                f"stage {stage!r} declares {len(names)} outputs {names!r} but returned a "
                f"{type(value).__name__} of {len(value)}; return one value per output name",
            )
        return dict(zip(names, value, strict=True))
    raise StageOutputError(
        stage,
        None,
        f"stage {stage!r} declares outputs {names!r} but returned a {type(value).__name__}; "
        "return a tuple (in that order) or a mapping keyed by the output names",
    )


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class MultiOutputStage(FunctionStage[P, R]):
    """A `FunctionStage` whose return value is split into its declared ``outputs``."""

    def execute(self, kwargs: dict[str, Any]) -> object:
        value = self.fn(**kwargs)  # type: ignore[call-arg]
        names = self.outputs or ()
        if inspect.isawaitable(value):
            return _split_later(self.name, names, value)
        return split_outputs(self.name, names, value)


async def _split_later(stage: str, names: tuple[str, ...], value: Any) -> dict[str, Any]:
    return split_outputs(stage, names, await value)


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
