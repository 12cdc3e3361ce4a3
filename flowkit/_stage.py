"""Function stages: ``FunctionStage`` and its seed form, ``FunctionStage(stage_id, func)``."""

from __future__ import annotations

import copyreg
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FunctionType, MappingProxyType
from typing import Any, Generic, ParamSpec, TypeVar, Unpack, overload

import attrs

from flowkit._base import (
    CONTEXT_ONLY,
    EMPTY,
    NO_RETRY_OPTIONS,
    NO_TAGS,
    Hook,
    Stage,
    StageOptions,
    _caller_module,
    _names,
    check_ttl,
    output_names,
    retry_policy,
    stage_name,
    validate_name,
)
from flowkit._introspect import Introspection, introspect, is_async, take_identity
from flowkit._retry import NO_RETRY, Retry, RetryOn
from flowkit._seed import CONTEXT, check_takes_one, seed_context, seed_fields
from flowkit._split import split_later, split_outputs
from flowkit.errors import PipelineDefinitionError

__all__ = [
    "CONTEXT",
    "ContextFunctionStage",
    "FunctionStage",
    "Hook",
    "P",
    "R",
    "Stage",
    "_caller_module",
    "_names",
]

P = ParamSpec("P")
R = TypeVar("R")


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class FunctionStage(Stage, Generic[P, R]):
    """A stage that calls a function; still callable exactly like that function.

    Args:
        fn: The function. Its parameters name its dependencies and inputs.
        **options: The keyword options of `flowkit.stage`.
    """

    fn: Callable[P, R]
    _parameters: tuple[str, ...]
    _defaults: Mapping[str, Any]
    _annotations: Mapping[str, Any]
    _is_async: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # FunctionStage("extract", fn) is the seed's form: fn takes the context mapping.
        if ((args and args[0].__class__ is str) or "stage_id" in kwargs) and cls is FunctionStage:
            return object.__new__(ContextFunctionStage)
        if kwargs.get("outputs") is not None and cls is FunctionStage:
            return object.__new__(MultiOutputStage)
        return object.__new__(cls)

    @overload
    def __init__(
        self,
        stage_id: str,
        func: Callable[P, R],
        *,
        name: str | None = None,
        depends_on: str | Iterable[str] | None = None,
        retry_count: int = 0,
        timeout_s: float | None = None,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
        tags: Iterable[str] = (),
        cache: bool = False,
        version: str | None = None,
    ) -> None: ...

    @overload
    def __init__(self, fn: Callable[P, R], /, **options: Unpack[StageOptions]) -> None: ...

    # The seed's form reaches ContextFunctionStage.__init__ (see __new__), so this one takes
    # flowkit's options directly; mypy cannot see that (hence the ignore), and a second
    # *args/**kwargs layer would cost every stage definition time.
    def __init__(  # type: ignore[misc]
        self,
        fn: Any = None,
        *seed_args: Any,
        name: str | None = None,
        depends_on: str | Iterable[str] | None = (),
        retries: int = 0,
        backoff: float | Sequence[float] = 0.0,
        max_backoff: float = 60.0,
        jitter: bool = False,
        retry_on: RetryOn = Exception,
        timeout: float | None = None,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
        map_over: str | None = None,
        tags: Iterable[str] = (),
        cache: bool = False,
        version: str | None = None,
        cache_ttl: float | None = None,
        outputs: Sequence[str] | None = None,
        **seed_options: Any,
    ) -> None:
        if seed_args or seed_options:  # the seed's form is ContextFunctionStage's
            raise TypeError(
                f"FunctionStage({fn!r}, ...) takes the function and the keyword options of "
                "@stage; the seed's form starts with the stage id: FunctionStage('id', func)"
            )
        name = stage_name(fn, name)
        retry = (
            NO_RETRY
            if (retries, backoff, max_backoff, jitter, retry_on) == NO_RETRY_OPTIONS
            else retry_policy(name, retries, backoff, max_backoff, jitter, retry_on)
        )
        params, defaults, annotations = self._signature(fn, name)
        if cache_ttl is not None:
            check_ttl(name, cache, cache_ttl)
        if outputs is not None:
            outputs = output_names(name, outputs)
        if outputs is not None and map_over is not None:
            raise PipelineDefinitionError(
                f"stage {name!r}: outputs= and map_over= cannot be combined; return one "
                "list from the fan-out stage and split it in a stage after it"
            )
        if map_over is not None and map_over not in params:
            raise PipelineDefinitionError(
                f"stage {name!r}: map_over={map_over!r} names no parameter; "
                f"choose one of {', '.join(params) or '(none)'}"
            )
        self.__attrs_init__(
            fn=fn,
            name=name,
            depends_on=depends_on or (),
            retry=retry,
            timeout=timeout,
            on_success=on_success,
            on_failure=on_failure,
            tags=tags,
            map_over=map_over,
            cache=cache,
            version=version,
            cache_ttl=cache_ttl,
            outputs=outputs,
            parameters=params,
            # Shared empty mappings: fewer objects per stage for the garbage collector to
            # walk in pipelines of thousands of stages. The annotations are the function's
            # own dict, wrapped read-only when read (see `annotations`).
            defaults=MappingProxyType(defaults) if defaults else EMPTY,
            annotations=annotations or EMPTY,
            is_async=is_async(fn),
        )
        take_identity(self, fn)

    @classmethod
    def of(cls, fn: Callable[P, R]) -> FunctionStage[P, R]:
        """``FunctionStage(fn)`` with every option at its default, for a plain function,
        without the generic constructors: bare ``@stage`` and plain functions given to a
        pipeline are most stages, built so in about half the time (`tests/test_stage.py`
        checks that this sets every field as ``FunctionStage(fn)`` does)."""
        if fn.__class__ is not FunctionType or cls is not FunctionStage:
            return cls(fn)
        name = stage_name(fn, None)
        validate_name(name)
        params, defaults, annotations = introspect(fn, name)
        self = object.__new__(cls)
        self.name, self.depends_on, self.retry, self.timeout = name, (), NO_RETRY, None
        self.on_success = self.on_failure = None
        self.tags, self.map_over, self.cache, self.version = NO_TAGS, None, False, None
        self.cache_ttl = self.outputs = self.display_name = None
        self.fn, self._parameters = fn, params
        self._defaults = MappingProxyType(defaults) if defaults else EMPTY
        self._annotations, self._is_async = annotations or EMPTY, is_async(fn)
        take_identity(self, fn)
        return self

    def _signature(self, fn: Callable[..., Any], name: str) -> Introspection:
        return introspect(fn, name)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    @property
    def annotations(self) -> Mapping[str, Any]:
        annotations = self._annotations
        if annotations.__class__ is dict:
            return MappingProxyType(annotations)
        return annotations

    @property
    def is_async(self) -> bool:
        return self._is_async

    def execute(self, kwargs: dict[str, Any]) -> object:
        return self.fn(**kwargs)  # type: ignore[call-arg]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<FunctionStage {self.name!r} of {getattr(self.fn, '__qualname__', self.fn)!r}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A module-level @stage replaces its function in the module, so the function no
        # longer pickles by reference; the stage itself does, by the same qualified name.
        qualname = getattr(self, "__qualname__", "")
        target: Any = sys.modules.get(getattr(self, "__module__", ""))
        for part in qualname.split("."):
            target = getattr(target, part, None)
        if target is self:
            return qualname
        return (copyreg.__newobj__, (type(self),), self.__getstate__())  # type: ignore[attr-defined]


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class MultiOutputStage(FunctionStage[P, R]):
    """``FunctionStage(fn, outputs=(...))``: its return value is split into its outputs
    (see `flowkit._outputs`); never on the engine's direct-call path."""

    def execute(self, kwargs: dict[str, Any]) -> object:
        value = self.fn(**kwargs)  # type: ignore[call-arg]
        names = self.outputs or ()
        if inspect.isawaitable(value):
            return split_later(self.name, names, value)
        return split_outputs(self.name, names, value)


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ContextFunctionStage(FunctionStage[P, R]):
    """``FunctionStage(stage_id, func, ...)``, the seed's form: ``func`` takes one argument,
    the context mapping (the inputs and each ``depends_on`` output, also under
    ``stage_<id>_output``). ``retry_count`` retries with the seed's backoff; ``name`` is a
    display name."""

    def __init__(
        self,
        stage_id: str,
        func: Callable[P, R],
        *,
        name: str | None = None,
        depends_on: str | Iterable[str] | None = None,
        retry_count: int = 0,
        timeout_s: float | None = None,
        **options: Any,
    ) -> None:
        fields = seed_fields(stage_id, name, depends_on, retry_count, timeout_s)
        check_takes_one(stage_id, func)
        retry: Retry = fields["retry"]
        super().__init__(
            func,
            name=stage_id,
            depends_on=fields["depends_on"],
            retries=retry.attempts - 1,
            backoff=retry.backoff,
            max_backoff=retry.max_backoff,
            timeout=timeout_s,
            **options,
        )
        self.display_name = name

    def _signature(self, fn: Callable[..., Any], name: str) -> Introspection:
        returns = getattr(fn, "__annotations__", {}).get("return", inspect.Signature.empty)
        return CONTEXT_ONLY, {}, {} if returns is inspect.Signature.empty else {"return": returns}

    def execute(self, kwargs: dict[str, Any]) -> object:
        return self.fn(seed_context(kwargs, self.depends_on))  # type: ignore[call-arg,arg-type]

    execute.takes_context_mapping = True  # type: ignore[attr-defined]
