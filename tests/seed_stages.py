"""Module-level seed-style stages, for executors whose workers import them by name."""

from __future__ import annotations

import os
from typing import Any

from flowkit import ConditionalStage, FunctionStage, ParallelStage, Pipeline, Stage, stage


def _read(context: dict[str, Any]) -> int:
    return int(context["x"]) + 1


def _doubled(context: dict[str, Any]) -> int:
    return 2 * int(context["stage_read_output"])


def _where(context: dict[str, Any]) -> int:
    return os.getpid()


class PlusTen(Stage):
    """A seed-style subclass defined at module level."""

    def execute(self, context: dict[str, Any]) -> Any:
        return context["doubled"] + 10


@stage
def decorated(plus_ten: int) -> int:
    return plus_ten * 100


read = FunctionStage("read", _read)
doubled = FunctionStage("doubled", _doubled, depends_on=["read"])
plus_ten = PlusTen("plus_ten", depends_on=["doubled"])


def _positive(context: dict[str, Any]) -> bool:
    return bool(context["stage_decorated_output"] > 0)


gate = ConditionalStage(
    "gate",
    _positive,
    FunctionStage("gated", _where, depends_on=["decorated"]),
)
group = ParallelStage(
    "group", [FunctionStage("pid_a", _where), FunctionStage("pid_b", _where)], depends_on=["read"]
)


def pipeline() -> Pipeline:
    """Every seed-style kind, and a decorated stage between them."""
    return Pipeline([read, doubled, plus_ten, decorated, group], name="seed_kinds").add_stage(gate)
