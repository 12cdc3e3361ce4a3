"""Reading a stage function's parameters, defaults and annotations."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

from flowkit.errors import PipelineDefinitionError

Introspection = tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]
_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _variadic_error(name: str, param: str) -> PipelineDefinitionError:
    return PipelineDefinitionError(
        f"stage {name!r}: parameter {param!r} is *args/**kwargs; stages take "
        "named parameters only (each one is a dependency or an input)"
    )


def _positional_only_error(name: str, param: str) -> PipelineDefinitionError:
    return PipelineDefinitionError(
        f"stage {name!r}: parameter {param!r} is positional-only; remove the '/' "
        "so flowkit can pass it by name"
    )


def introspect(fn: Callable[..., Any], name: str) -> Introspection:
    """Parameter names, defaults and annotations (``"return"`` included) of ``fn``.

    Plain functions are read from their code object, which is several times faster than
    `inspect.signature` and matters when building pipelines of thousands of stages.
    """
    if (
        isinstance(fn, types.FunctionType)
        and not {"__wrapped__", "__signature__"} & vars(fn).keys()
    ):
        return _from_code(fn, name)
    return _from_signature(fn, name)


def _from_code(fn: types.FunctionType, name: str) -> Introspection:
    code = fn.__code__
    count = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & _VARIADIC:
        raise _variadic_error(name, code.co_varnames[count])
    if code.co_posonlyargcount:
        raise _positional_only_error(name, code.co_varnames[0])
    params = code.co_varnames[:count]
    defaults: dict[str, Any] = {}
    if fn.__defaults__:
        positional = params[: code.co_argcount]
        defaults.update(zip(positional[-len(fn.__defaults__) :], fn.__defaults__, strict=True))
    if fn.__kwdefaults__:
        defaults.update(fn.__kwdefaults__)
    return params, defaults, fn.__annotations__  # read-only behind a MappingProxyType


def _from_signature(fn: Callable[..., Any], name: str) -> Introspection:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise PipelineDefinitionError(f"stage {name!r}: cannot read its signature") from error
    parameters = signature.parameters.values()
    for param in parameters:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _variadic_error(name, param.name)
        if param.kind is param.POSITIONAL_ONLY:
            raise _positional_only_error(name, param.name)
    annotations = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        annotations["return"] = signature.return_annotation
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    return tuple(signature.parameters), defaults, annotations


def take_identity(stage: Any, fn: Callable[..., Any]) -> None:
    """`functools.update_wrapper`, without creating the stage's ``__dict__`` when ``fn`` has
    no attributes of its own: that dict is 64 bytes and one more object for the garbage
    collector to walk per stage (attributes set one by one live in the instance's
    preallocated values)."""
    for attribute in functools.WRAPPER_ASSIGNMENTS:
        try:
            value = getattr(fn, attribute)
        except AttributeError:
            continue
        setattr(stage, attribute, value)
    own = getattr(fn, "__dict__", None)
    if own:
        stage.__dict__.update(own)
    stage.__wrapped__ = fn
