"""One input of each convertible type; postponed annotations on purpose (they are strings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from flowkit import Pipeline, stage


@stage
def echo(  # noqa: PLR0917 - one parameter per input type
    n: int,
    x: float,
    flag: bool,
    path: Path,
    name: str,
    items: list[int],
    mapping: dict[str, int],
    maybe: int | None = None,
    mode: Literal["fast", "slow"] = "fast",
) -> dict[str, object]:
    values = {"n": n, "x": x, "flag": flag, "path": path, "name": name, "items": items}
    values.update(mapping=mapping, maybe=maybe, mode=mode)
    return {key: [type(value).__name__, str(value)] for key, value in values.items()}


@stage(map_over="url")
def fetch(url: str) -> int:
    return len(url)


pipeline = Pipeline.from_module(__name__, name="typed")
