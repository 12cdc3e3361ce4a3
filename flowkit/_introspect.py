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
_MISSING = object()
_TYPE_PARAMS = "__type_params__" in functools.WRAPPER_ASSIGNMENTS  # Python 3.12+


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
        and getattr(fn, "__wrapped__", None) is None
        and getattr(fn, "__signature__", None) is None
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


def is_async(fn: Callable[..., Any]) -> bool:
    """`inspect.iscoroutinefunction`, read straight off a plain function's code."""
    if fn.__class__ is types.FunctionType and getattr(fn, "_is_coroutine_marker", None) is None:
        return bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(fn)


def take_identity(stage: Any, fn: Callable[..., Any]) -> None:
    """`functools.update_wrapper`, without creating the stage's ``__dict__`` when ``fn`` has
    no attributes of its own: that dict is 64 bytes and one more object for the garbage
    collector to walk per stage (attributes set one by one live in the instance's
    preallocated values)."""
    if fn.__class__ is types.FunctionType and not _TYPE_PARAMS:  # each attribute exists
        stage.__module__, stage.__name__ = fn.__module__, fn.__name__
        stage.__qualname__, stage.__doc__ = fn.__qualname__, fn.__doc__
        stage.__annotations__ = fn.__annotations__
    else:
        for attribute in functools.WRAPPER_ASSIGNMENTS:
            value = getattr(fn, attribute, _MISSING)
            if value is not _MISSING:
                setattr(stage, attribute, value)
    own = getattr(fn, "__dict__", None)
    if own:
        stage.__dict__.update(own)
    stage.__wrapped__ = fn
