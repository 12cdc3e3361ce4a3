"""The stages a module defines, for ``Pipeline.from_module``."""

from __future__ import annotations

from types import ModuleType

from flowkit._composite import ParallelStage
from flowkit._stage import Stage


def module_stages(module: ModuleType) -> list[Stage]:
    """The stages defined in ``module`` (not those it imports), in definition order; the
    children of a parallel group are left to their group."""
    found: dict[int, Stage] = {}
    for value in list(vars(module).values()):
        if isinstance(value, Stage) and _defined_in(value, module.__name__):
            found.setdefault(id(value), value)
    children = {
        id(child) for s in found.values() if isinstance(s, ParallelStage) for child in s.stages
    }
    return [s for key, s in found.items() if key not in children]


def _defined_in(stage: Stage, module: str) -> bool:
    # Function stages carry their function's module, parallel groups the module that built
    # them, and instances of other Stage subclasses their class's module.
    return getattr(stage, "__module__", None) == module
