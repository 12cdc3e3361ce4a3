"""Stage kinds: the abstract :class:`Stage`, function stages, conditions and parallel groups."""

from __future__ import annotations

import abc
import copyreg
import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import attrs

from flowkit._retry import NO_RETRY, Retry
from flowkit.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from flowkit._results import StageResult

P = ParamSpec("P")
R = TypeVar("R")
Hook = Callable[["StageResult"], object]

CONTEXT = "context"
_NO_RETRY_OPTIONS = (0, 0.0, 60.0, False, Exception)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _caller_module() -> str | None:
    """The first module up the stack outside flowkit and attrs: where a stage object is
    being defined (``Pipeline.from_module`` keeps only stages defined in its module)."""
    frame = sys._getframe(1)  # noqa: SLF001 - the documented way to look up the stack
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module and not module.startswith(("flowkit.", "attr")):
            return str(module)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _tags(value: Iterable[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


def _check_name(stage: Any, _: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise PipelineDefinitionError(f"a stage name must be a non-empty string, got {value!r}")
    if value == CONTEXT:
        raise PipelineDefinitionError(
            "a stage cannot be named 'context': that parameter name is reserved for the "
            "StageContext; rename the function or pass name=..."
        )


def _check_timeout(stage: Any, _: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not value > 0):
        raise PipelineDefinitionError(
            f"stage {stage.name!r}: timeout must be a positive number of seconds or None, "
            f"got {value!r}"
        )


@attrs.define(slots=False, eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class Stage(abc.ABC):
    """One step of a pipeline. Subclass it for custom stage kinds.

    Subclasses provide :attr:`parameters` (the names the stage takes; names of other stages
    are dependencies, the rest are pipeline inputs) and :meth:`execute`.
    """

    name: str = attrs.field(validator=_check_name)
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=_names)
    retry: Retry = NO_RETRY
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    on_success: Hook | None = None
    on_failure: Hook | None = None
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_tags)
    map_over: str | None = None
    cache: bool = False
    version: str | None = None

    @property
    @abc.abstractmethod
    def parameters(self) -> tuple[str, ...]:
        """The names this stage takes, in signature order."""

    @abc.abstractmethod
    def execute(self, kwargs: dict[str, Any]) -> object:
        """Run the stage once with its arguments by name and return its output."""

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Default values of the parameters that have one."""
        return _EMPTY

    @property
    def annotations(self) -> Mapping[str, Any]:
        """Type annotations by parameter name, and ``"return"`` for the output."""
        return _EMPTY

    @property
    def is_async(self) -> bool:
        """True when :meth:`execute` returns an awaitable."""
        return False

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        """Decide, just before an attempt, whether the stage runs (False: it is skipped)."""
        return True


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


def _introspect(fn: Callable[..., Any], name: str) -> Introspection:
    """Parameter names, defaults and annotations (``"return"`` included) of ``fn``.

    Plain functions are read from their code object, which is several times faster than
    :func:`inspect.signature` and matters when building pipelines of thousands of stages.
    """
    code = getattr(fn, "__code__", None)
    plain = (
        isinstance(fn, types.FunctionType)
        and not {"__wrapped__", "__signature__"} & vars(fn).keys()
    )
    if plain and code is not None:
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
        return params, defaults, dict(fn.__annotations__)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise PipelineDefinitionError(f"stage {name!r}: cannot read its signature") from error
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _variadic_error(name, param.name)
        if param.kind is param.POSITIONAL_ONLY:
            raise _positional_only_error(name, param.name)
    annotations = {
        p.name: p.annotation for p in signature.parameters.values() if p.annotation is not p.empty
    }
    if signature.return_annotation is not signature.empty:
        annotations["return"] = signature.return_annotation
    return (
        tuple(signature.parameters),
        {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty},
        annotations,
    )


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class FunctionStage(Stage, Generic[P, R]):
    """A stage that calls a function; still callable exactly like that function.

    Args:
        fn: The function. Its parameters name its dependencies and inputs.
        **options: The keyword options of :func:`flowkit.stage`.
    """

    fn: Callable[P, R]
    _parameters: tuple[str, ...]
    _defaults: Mapping[str, Any]
    _annotations: Mapping[str, Any]
    _is_async: bool

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        depends_on: str | Iterable[str] = (),
        retries: int = 0,
        backoff: float = 0.0,
        max_backoff: float = 60.0,
        jitter: bool = False,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        timeout: float | None = None,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
        map_over: str | None = None,
        tags: Iterable[str] = (),
        cache: bool = False,
        version: str | None = None,
    ) -> None:
        if not callable(fn):
            raise PipelineDefinitionError(f"a stage wraps a callable, got {fn!r}")
        name = name if name is not None else getattr(fn, "__name__", None)
        if name is None or name == "<lambda>":
            raise PipelineDefinitionError(
                f"{fn!r} has no usable name; pass name=... (the stage's name is how other "
                "stages refer to its output)"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise PipelineDefinitionError(
                f"stage {name!r}: retries counts extra attempts and must be an int >= 0, "
                f"got {retries!r}"
            )
        try:
            retry = (
                NO_RETRY
                if (retries, backoff, max_backoff, jitter, retry_on) == _NO_RETRY_OPTIONS
                else Retry(retries + 1, backoff, max_backoff, jitter, retry_on)
            )
        except PipelineDefinitionError as error:
            raise PipelineDefinitionError(f"stage {name!r}: {error}") from None
        params, defaults, annotations = _introspect(fn, name)
        if map_over is not None and map_over not in params:
            raise PipelineDefinitionError(
                f"stage {name!r}: map_over={map_over!r} names no parameter; "
                f"choose one of {', '.join(params) or '(none)'}"
            )
        self.__attrs_init__(
            fn=fn,
            name=name,
            depends_on=depends_on,
            retry=retry,
            timeout=timeout,
            on_success=on_success,
            on_failure=on_failure,
            tags=tags,
            map_over=map_over,
            cache=cache,
            version=version,
            parameters=params,
            defaults=MappingProxyType(defaults),
            annotations=MappingProxyType(annotations),
            is_async=inspect.iscoroutinefunction(fn),
        )
        functools.update_wrapper(self, fn)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    @property
    def annotations(self) -> Mapping[str, Any]:
        return self._annotations

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
        return (copyreg.__newobj__, (type(self),), self.__dict__.copy())  # type: ignore[attr-defined]


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ConditionalStage(Stage, Generic[P, R]):
    """Runs ``inner`` only when ``condition`` is true; otherwise the stage is ``SKIPPED``.

    The condition's parameters are injected by name like a stage's, so a parameter that names a
    stage makes that stage a dependency.
    """

    inner: Stage
    condition: Callable[..., object]
    _condition_parameters: tuple[str, ...]
    _parameters: tuple[str, ...]
    _defaults: Mapping[str, Any]

    def __init__(self, inner: Stage, condition: Callable[..., object]) -> None:
        if not isinstance(inner, Stage):
            inner = FunctionStage(inner)
        if not callable(condition):
            raise PipelineDefinitionError(
                f"stage {inner.name!r}: when= must be a callable predicate, got {condition!r}"
            )
        cond_params, cond_defaults, _ = _introspect(condition, inner.name)
        params = inner.parameters + tuple(p for p in cond_params if p not in inner.parameters)
        self.__attrs_init__(
            inner=inner,
            condition=condition,
            condition_parameters=cond_params,
            defaults=MappingProxyType({**cond_defaults, **inner.defaults}),
            parameters=params,
            name=inner.name,
            depends_on=inner.depends_on,
            retry=inner.retry,
            timeout=inner.timeout,
            on_success=inner.on_success,
            on_failure=inner.on_failure,
            tags=inner.tags,
            map_over=inner.map_over,
            cache=inner.cache,
            version=inner.version,
        )
        for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__wrapped__"):
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    @property
    def annotations(self) -> Mapping[str, Any]:
        return self.inner.annotations

    @property
    def is_async(self) -> bool:
        return self.inner.is_async

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        return bool(
            self.condition(**{p: kwargs[p] for p in self._condition_parameters if p in kwargs})
        )

    def execute(self, kwargs: dict[str, Any]) -> object:
        inner = self.inner.parameters
        return self.inner.execute({p: v for p, v in kwargs.items() if p in inner})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.inner(*args, **kwargs)  # type: ignore[operator,no-any-return]

    def __repr__(self) -> str:
        return f"<ConditionalStage {self.name!r}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        return FunctionStage.__reduce__(self)  # type: ignore[arg-type]


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ParallelStage(Stage):
    """Runs its children concurrently in a thread pool; its output is ``{child: output}``.

    Children are internal to the group: other stages depend on the group's name. Each child
    keeps its own retries and timeout; the group fails if any child fails, after all finish.
    """

    stages: tuple[Stage, ...]
    max_workers: int | None
    _parameters: tuple[str, ...]

    def __init__(
        self,
        name: str,
        stages: Iterable[Stage | Callable[..., Any]],
        max_workers: int | None = None,
        **options: Any,
    ) -> None:
        children = tuple(s if isinstance(s, Stage) else FunctionStage(s) for s in stages)
        seen: set[str] = set()
        for child in children:
            if child.name in seen:
                raise PipelineDefinitionError(
                    f"parallel stage {name!r}: two children are named {child.name!r}"
                )
            seen.add(child.name)
        if max_workers is not None and max_workers < 1:
            raise PipelineDefinitionError(
                f"parallel stage {name!r}: max_workers must be >= 1, got {max_workers!r}"
            )
        params: dict[str, None] = {}
        depends_on: dict[str, None] = dict.fromkeys(_names(options.pop("depends_on", ())))
        for child in children:
            params.update(dict.fromkeys(p for p in child.parameters if p != CONTEXT))
            depends_on.update(dict.fromkeys(child.depends_on))
        self.__module__ = _caller_module() or __name__
        self.__attrs_init__(
            name=name,
            stages=children,
            max_workers=max_workers,
            parameters=tuple(params),
            depends_on=tuple(depends_on),
            **options,
        )

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        merged: dict[str, Any] = {}
        for child in reversed(self.stages):
            merged.update(child.defaults)
        return MappingProxyType(merged)

    def execute(self, kwargs: dict[str, Any]) -> object:
        """Run the children concurrently, without events (the engine runs them itself and
        reports each child; this path serves executor objects that run the group as one
        call on a worker).

        Raises:
            Exception: The first failed child's error, after all children finished.
        """
        from flowkit._drivers import run_group

        return run_group(self, kwargs)

    def __repr__(self) -> str:
        return f"<ParallelStage {self.name!r} of {[s.name for s in self.stages]!r}>"
