"""Resolving a CLI TARGET (``pkg.module:attr``, ``path/to/file.py:attr``, or a module or file
alone) to a `Pipeline`.

A file is imported by its module name, with its directory (or its package's root) on
``sys.path``, so the processes and Dask executors can pickle its stages by qualified name and
import them again in child processes.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from flowkit._builder import PipelineBuilder
from flowkit._pipeline import Pipeline
from flowkit._stage import Stage
from flowkit.cli._usage import UsageFailure
from flowkit.errors import did_you_mean

_ATTR = re.compile(r"[A-Za-z_][\w.]*")


def split_target(target: str) -> tuple[str, str | None]:
    """``"a.b:attr"`` -> ``("a.b", "attr")``; a target without an attribute -> ``(ref, None)``."""
    ref, sep, attr = target.rpartition(":")
    if sep and ref and _ATTR.fullmatch(attr):
        return ref, attr
    return target, None


def _looks_like_file(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or os.sep in ref or Path(ref).is_file()


def load_target(target: str) -> Pipeline:
    """The pipeline named by ``target``.

    Raises:
        UsageFailure: The module, file or attribute does not exist, the module fails to
            import, or the attribute is not a Pipeline or PipelineBuilder.
        PipelineDefinitionError: Building the pipeline failed.
    """
    ref, attr = split_target(target)
    module = _import_file(Path(ref)) if _looks_like_file(ref) else _import_module(ref)
    if attr is None:
        pipeline = Pipeline.from_module(module)
        if not pipeline.stages:
            found = _pipelines_in(module)
            hint = f"; it has {', '.join(found)}: use '{ref}:{found[0]}'" if found else ""
            raise UsageFailure(f"module {module.__name__!r} defines no stages{hint}")
        return pipeline
    return _as_pipeline(_attribute(module, attr, ref), f"{ref}:{attr}")


def _as_pipeline(value: Any, where: str) -> Pipeline:
    if isinstance(value, Pipeline):
        return value
    if isinstance(value, PipelineBuilder):
        return value.build()
    raise UsageFailure(
        f"{where!r} is of type {type(value).__name__}, not a Pipeline or PipelineBuilder; "
        "point TARGET at one, or give the module alone to run all its stages"
    )


def _pipelines_in(module: ModuleType) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if isinstance(value, Pipeline | PipelineBuilder) and not name.startswith("_")
    ]


def _attribute(module: ModuleType, path: str, ref: str) -> Any:
    value: Any = module
    for depth, part in enumerate(path.split(".")):
        if not hasattr(value, part):
            owner = module.__name__ if depth == 0 else ".".join(path.split(".")[:depth])
            names = [n for n in dir(value) if not n.startswith("_")]
            found = _pipelines_in(module) if depth == 0 else []
            stages = sum(isinstance(v, Stage) for v in vars(module).values())
            there = f"; pipelines there: {', '.join(found)}" if found else ""
            if not found and depth == 0:
                there = f"; it defines no Pipeline or PipelineBuilder ({stages} stage(s))"
            raise UsageFailure(
                f"{owner!r} has no attribute {part!r}{did_you_mean(part, names)}{there}"
                + (f"; '{ref}' alone runs its stages" if depth == 0 and stages else "")
            )
        value = getattr(value, part)
    return value


def _ensure_on_path(directory: str) -> None:
    if directory not in sys.path:
        sys.path.insert(0, directory)


def _import_module(name: str) -> ModuleType:
    # Like `python -m`, resolve modules from the current directory first: the console
    # script's sys.path[0] is its own bin directory.
    if "" not in sys.path:
        _ensure_on_path(str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise UsageFailure(_module_not_found(name, error.name)) from None
        raise UsageFailure(_import_failed(name, error)) from None
    except Exception as error:  # noqa: BLE001 - any error raised by the user's module
        raise UsageFailure(_import_failed(name, error)) from None


def _module_not_found(name: str, missing: str) -> str:
    parent, _, leaf = missing.rpartition(".")
    if parent:
        try:
            search = list(getattr(importlib.import_module(parent), "__path__", []))
        except ImportError:
            search = []
    else:
        search = [str(Path.cwd())]
    known = [info.name for info in pkgutil.iter_modules(search)]
    where = f"package {parent!r}" if parent else "the current directory"
    there = f"; modules in {where}: {', '.join(sorted(known)[:20])}" if known else ""
    return (
        f"no module named {missing!r}{did_you_mean(leaf, known)}{there}; "
        "give a module importable from here or a path/to/file.py"
    )


def _import_failed(name: str, error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" ({error.filename}:{error.lineno})"
    elif frames:
        where = f" ({frames[-1].filename}:{frames[-1].lineno})"
    return f"importing {name!r} failed: {type(error).__name__}: {error}{where}"


def _module_name(path: Path) -> tuple[str, Path]:
    """The dotted name of ``path`` and the directory to import it from: walk up through
    packages (directories with ``__init__.py``) so relative imports keep working."""
    parts = [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file() and root.name.isidentifier():
        parts.insert(0, root.name)
        root = root.parent
    return ".".join(parts), root


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        folder = path.parent if str(path.parent) else Path()
        there = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
        detail = f"; Python files there: {', '.join(there[:20])}" if there else ""
        kind = "is not a file" if path.exists() else "not found"
        raise UsageFailure(f"{str(path)!r} {kind}{did_you_mean(path.name, there)}{detail}")
    path = path.resolve()
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise UsageFailure(
            f"cannot import {str(path)!r} by name: a target file must be a .py file whose "
            "name is a valid Python identifier; rename it"
        )
    name, root = _module_name(path)
    _ensure_on_path(str(root))
    module = _import_module(name)
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != path:
        raise UsageFailure(
            f"{str(path)!r} imports as module {name!r}, but that name is already taken by "
            f"{loaded or 'a built-in module'}; rename the file"
        )
    return module
