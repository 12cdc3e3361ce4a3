"""Splitting the return value of a stage declared with ``outputs=`` into its outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowkit.errors import StageOutputError


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


async def split_later(stage: str, names: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`split_outputs` of an ``async def`` stage's awaited value."""
    return split_outputs(stage, names, await value)
