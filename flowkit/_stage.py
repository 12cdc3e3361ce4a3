"""Stage kinds: the abstract `Stage`, function stages, conditions and parallel groups."""

from __future__ import annotations

import abc
import copyreg
import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import attrs

from flowkit._introspect import introspect
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


_NO_TAGS: frozenset[str] = frozenset()


def _tags(value: Iterable[str]) -> frozenset[str]:
    # Shared when empty: an empty frozenset per stage is 216 bytes of 100,000 stages.
    return frozenset((value,) if isinstance(value, str) else value) or _NO_TAGS


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

    Subclasses provide `parameters` (the names the stage takes; names of other stages
    are dependencies, the rest are pipeline inputs) and `execute`.
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
        """True when `execute` returns an awaitable."""
        return False

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        """Decide, just before an attempt, whether the stage runs (False: it is skipped)."""
        return True


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
        params, defaults, annotations = introspect(fn, name)
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
            # Shared empty mappings: fewer objects per stage for the garbage collector to
            # walk in pipelines of thousands of stages.
            defaults=MappingProxyType(defaults) if defaults else _EMPTY,
            annotations=MappingProxyType(annotations) if annotations else _EMPTY,
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
        # Mapping proxies (the shared empty defaults and annotations) do not pickle.
        state = {
            key: dict(value) if isinstance(value, MappingProxyType) else value
            for key, value in vars(self).items()
        }
        return (copyreg.__newobj__, (type(self),), state)  # type: ignore[attr-defined]
