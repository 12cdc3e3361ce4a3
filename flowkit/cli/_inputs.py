"""Pipeline inputs from the command line: ``-i NAME=VALUE`` converted to the parameter's
annotated type, and ``--inputs FILE.json|FILE.toml``.

Error messages name the input and the expected type, never the value (it may be a secret).
"""

from __future__ import annotations

import collections.abc as cabc
import datetime as dt
import enum
import json
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._pipeline import Pipeline
from flowkit._stage import CONTEXT, Stage
from flowkit.cli._usage import UsageFailure
from flowkit.errors import did_you_mean

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_NONE = frozenset({"none", "null"})
_SEQUENCES = (list, tuple, set, frozenset, cabc.Sequence, cabc.Set, cabc.Iterable, cabc.Collection)
_MAPPINGS = (dict, cabc.Mapping)
# The default's type converts an unannotated input's text only for these: any other default
# (None, an object) says nothing about what the text means.
_DEFAULT_TYPES = (bool, int, float, str, list, dict, tuple, Path)
_EXAMPLES = {bool: "true/false/1/0/yes/no", int: "e.g. 42", float: "e.g. 0.5"}


def collect_inputs(
    pipeline: Pipeline, pairs: Sequence[str], file: Path | None = None
) -> dict[str, Any]:
    """The inputs given on the command line; ``-i`` wins over ``--inputs``.

    Raises:
        UsageFailure: A malformed pair or file, an unknown input name, or a value that
            does not convert to the input's type.
    """
    given: dict[str, tuple[Any, bool]] = {}  # name -> (value, is text to convert)
    if file is not None:
        given.update((name, (value, False)) for name, value in _read_file(file).items())
    for position, pair in enumerate(pairs, 1):
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageFailure(f"-i expects NAME=VALUE; -i number {position} is not")
        given[name] = (text, True)
    return {name: _convert(pipeline, name, value, text) for name, (value, text) in given.items()}


def _read_file(file: Path) -> dict[str, Any]:
    try:
        if file.suffix == ".json":
            data = json.loads(file.read_text(encoding="utf-8"))
        elif file.suffix == ".toml":
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        else:
            raise UsageFailure(f"--inputs takes a .json or .toml file, got {str(file)!r}")
    except (ValueError, OSError) as error:  # JSONDecodeError and TOMLDecodeError are both
        raise UsageFailure(f"cannot read inputs from {str(file)!r}: {error}") from None
    if not isinstance(data, dict):
        raise UsageFailure(f"{str(file)!r} must hold a JSON object of input names to values")
    return data


def _takes_context(stages: Iterable[Stage]) -> bool:
    for stage in stages:
        if CONTEXT in stage.parameters:
            return True
        if isinstance(stage, ParallelStage) and _takes_context(stage.stages):
            return True
        if isinstance(stage, ConditionalStage) and _takes_context([stage.inner]):
            return True
    return False


def _convert(pipeline: Pipeline, name: str, value: Any, text: bool) -> Any:
    specs = pipeline.inputs
    if name not in specs:
        # A stage taking `context` may read any input by name, so then nothing is unknown;
        # a stage's name is refused by the pipeline itself, pointing to overrides=.
        if name in pipeline.stages or _takes_context(pipeline.stages.values()):
            return value
        listed = ", ".join(specs) or "(none)"
        raise UsageFailure(
            f"unknown input {name!r}{did_you_mean(name, specs)}: not an input of pipeline "
            f"{pipeline.name!r}; its inputs are: {listed}"
        )
    annotation = annotation_of(pipeline, name)
    try:
        return from_text(value, annotation) if text else from_data(value, annotation)
    except (ValueError, TypeError):
        example = _EXAMPLES.get(annotation, "")
        if _shape(annotation) is not None:
            example = "as JSON"
        hint = f" ({example})" if example else ""
        raise UsageFailure(
            f"invalid value for input {name!r}: expected {type_label(annotation)}{hint}"
        ) from None


# -- annotations ---------------------------------------------------------------------------


def _functions(stage: Stage) -> Iterable[Any]:
    if isinstance(stage, ConditionalStage):
        yield from _functions(stage.inner)
    elif isinstance(stage, ParallelStage):
        for child in stage.stages:
            yield from _functions(child)
    else:
        yield stage


def annotation_of(pipeline: Pipeline, name: str) -> Any:
    """The resolved annotation of input ``name``; for an unannotated parameter, the type of
    its default (``factor=2`` is an int); None when neither tells.

    A ``map_over`` parameter is annotated with its item type: the input is a list of those.
    """
    spec = pipeline.inputs[name]
    for stage_name in spec.stages:
        for stage in _functions(pipeline.stages[stage_name]):
            if name not in stage.annotations:
                continue
            annotation = _resolve(stage.annotations[name], stage)
            return list[annotation] if stage.map_over == name else annotation  # type: ignore[valid-type]
    if not spec.required and type(spec.default) in _DEFAULT_TYPES:
        return type(spec.default)
    return None


def _resolve(annotation: Any, stage: Stage) -> Any:
    if not isinstance(annotation, str):
        return annotation
    namespace = getattr(getattr(stage, "fn", None), "__globals__", {})
    try:
        return eval(annotation, {"typing": typing, **namespace})  # noqa: S307 - the stage's own annotation
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: the value stays text
        return None


def type_label(annotation: Any) -> str:
    """A readable name for ``annotation``: ``int``, ``list[int]``, ``Path``, ``str``."""
    if annotation is None or annotation is Any:
        return "str"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("pathlib.", "")


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _shape(annotation: Any) -> type | None:
    """``list`` or ``dict`` for container annotations (given as JSON), else None."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation) or annotation
    if origin in _MAPPINGS:
        return dict
    if origin in _SEQUENCES:
        return list
    return None


# -- conversion ----------------------------------------------------------------------------


def from_text(text: str, annotation: Any) -> Any:
    """Convert command-line text to ``annotation``.

    Raises:
        ValueError: The text is not a valid value of that type.
    """
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if annotation is None or annotation is Any or annotation is str or annotation is object:
        return text
    if origin in (typing.Union, types.UnionType):
        return _union(text, typing.get_args(annotation), from_text)
    if origin is typing.Literal:
        for choice in typing.get_args(annotation):
            if str(choice) == text:
                return choice
        raise ValueError(text)
    if annotation is bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(text)
    if annotation is int or annotation is float:
        return annotation(text.strip())
    if _shape(annotation) is not None:
        return from_data(json.loads(text), annotation)
    return _scalar(text, annotation)


def _union(value: Any, members: tuple[Any, ...], convert: Any) -> Any:
    if type(None) in members and isinstance(value, str) and value.strip().lower() in _NONE:
        return None
    for member in members:
        if member is type(None):
            continue
        try:
            return convert(value, member)
        except (ValueError, TypeError):
            continue
    if value is None and type(None) in members:
        return None
    raise ValueError("no member of the union fits")


def _scalar(text: str, annotation: Any) -> Any:
    if not isinstance(annotation, type):
        return text  # an annotation we do not know how to parse: pass the text on
    if issubclass(annotation, PurePath):
        return annotation(text)
    if issubclass(annotation, enum.Enum):
        if text in annotation.__members__:
            return annotation[text]
        for member in annotation:
            if str(member.value) == text:
                return member
        raise ValueError(text)
    if annotation in (dt.datetime, dt.date, dt.time):
        return annotation.fromisoformat(text)
    return text


def from_data(value: Any, annotation: Any) -> Any:
    """Check (and lightly convert) a value parsed from JSON or TOML against ``annotation``.

    Strings are converted as on the command line; numbers, lists and dicts must fit.

    Raises:
        ValueError: The value does not fit.
    """
    annotation = _unwrap(annotation)
    if annotation is None or annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _union(value, typing.get_args(annotation), from_data)
    shape = _shape(annotation)
    if shape is dict:
        return _mapping_from_data(value, typing.get_args(annotation))
    if shape is list:
        return _sequence_from_data(value, origin or annotation, typing.get_args(annotation))
    return _scalar_from_data(value, annotation)


def _mapping_from_data(value: Any, args: tuple[Any, ...]) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("expected an object")  # noqa: TRY004 - callers catch ValueError
    key_type, value_type = args if len(args) == 2 else (None, None)
    return {from_data(k, key_type): from_data(v, value_type) for k, v in value.items()}


def _sequence_from_data(value: Any, container: Any, args: tuple[Any, ...]) -> Any:
    if not isinstance(value, list):
        raise ValueError("expected an array")  # noqa: TRY004 - callers catch ValueError
    if container is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ValueError("wrong length")
        return tuple(from_data(v, t) for v, t in zip(value, args, strict=True))
    items = [from_data(v, args[0] if args else None) for v in value]
    if container in (tuple, set, frozenset):
        return container(items)
    return items


def _scalar_from_data(value: Any, annotation: Any) -> Any:
    if isinstance(value, str):
        return from_text(value, annotation)
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, bool, str) and type(value) is not annotation:
        raise ValueError("wrong type")
    return value
