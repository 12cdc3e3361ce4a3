"""The abstract `Stage`: the fields every stage kind has, in flowkit's form and the seed's."""

from __future__ import annotations

import abc
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypedDict

import attrs

from flowkit._retry import NO_RETRY, Retry, RetryOn
from flowkit._seed import CONTEXT, context_execute, seed_fields, seed_retry
from flowkit.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from flowkit._results import StageResult

Hook = Callable[["StageResult"], object]
HookMethod = Callable[["StageResult", Any], object]
"""A subclass's ``on_success(self, result, context)`` method, once bound."""


class StageOptions(TypedDict, total=False):
    """The keyword options of `flowkit.stage` and `FunctionStage` (defaults: see
    `FunctionStage`), written once for the type checker."""

    name: str | None
    depends_on: str | Iterable[str]
    retries: int
    backoff: float | Sequence[float]
    max_backoff: float
    jitter: bool
    retry_on: RetryOn
    timeout: float | None
    on_success: Hook | None
    on_failure: Hook | None
    map_over: str | None
    tags: Iterable[str]
    cache: bool
    cache_ttl: float | None
    version: str | None
    outputs: Sequence[str] | None


CONTEXT_ONLY = (CONTEXT,)
NO_RETRY_OPTIONS = (0, 0.0, 60.0, False, Exception)
EMPTY: Mapping[str, Any] = MappingProxyType({})


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


NO_TAGS: frozenset[str] = frozenset()


def _tags(value: Iterable[str]) -> frozenset[str]:
    # Shared when empty: an empty frozenset per stage is 216 bytes of 100,000 stages.
    return frozenset((value,) if isinstance(value, str) else value) or NO_TAGS


def _check_name(stage: Any, _: attrs.Attribute[Any], value: object) -> None:
    validate_name(value)


def validate_name(value: object) -> None:
    """Raise `PipelineDefinitionError` unless ``value`` can name a stage."""
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


def check_ttl(name: str, cache: bool, value: float) -> float:
    """``cache_ttl=`` checked (called only when it is given: free for every other stage)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise PipelineDefinitionError(
            f"stage {name!r}: cache_ttl must be a positive number of seconds or None, got {value!r}"
        )
    if not cache:
        raise PipelineDefinitionError(
            f"stage {name!r}: cache_ttl={value!r} needs cache=True to have an effect"
        )
    return value


def output_names(name: str, value: Iterable[str]) -> tuple[str, ...]:
    """``outputs=`` checked (called only when it is given)."""
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) and n and n != CONTEXT for n in names):
        raise PipelineDefinitionError(
            f"stage {name!r}: outputs must be a non-empty tuple of stage-like names, got "
            f'{value!r}; e.g. outputs=("train", "test")'
        )
    if len(set(names)) < len(names):
        raise PipelineDefinitionError(f"stage {name!r}: outputs names one twice: {value!r}")
    return names


def stage_name(fn: object, name: str | None) -> str:
    if not callable(fn):
        if hasattr(fn, "as_stage"):
            raise PipelineDefinitionError(
                f"{fn!r} is a pipeline, not a stage; to nest it, add "
                "pipeline.as_stage('name', inputs=..., outputs=...)"
            )
        raise PipelineDefinitionError(f"a stage wraps a callable, got {fn!r}")
    name = name if name is not None else getattr(fn, "__name__", None)
    if name is None or name == "<lambda>":
        raise PipelineDefinitionError(
            f"{fn!r} has no usable name; pass name=... (the stage's name is how other "
            "stages refer to its output)"
        )
    return name


def retry_policy(name: str, retries: int, *options: Any) -> Retry:
    """The `Retry` of ``retries`` extra attempts with ``(backoff, max_backoff, jitter,
    retry_on)``."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise PipelineDefinitionError(
            f"stage {name!r}: retries counts extra attempts and must be an int >= 0, "
            f"got {retries!r}"
        )
    if (retries, *options) == NO_RETRY_OPTIONS:
        return NO_RETRY
    try:
        return Retry(retries + 1, *options)
    except PipelineDefinitionError as error:
        raise PipelineDefinitionError(f"stage {name!r}: {error}") from None


@attrs.define(slots=False, eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class StageFields:
    """The fields every stage has; their keyword form is flowkit's `Stage.__init__`."""

    name: str = attrs.field(validator=_check_name)
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=_names)
    retry: Retry = NO_RETRY
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    # Typed to allow a subclass's hook methods too; the value given is a one-argument hook.
    on_success: Hook | HookMethod | None = None
    on_failure: Hook | HookMethod | None = None
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_tags)
    map_over: str | None = None
    cache: bool = False
    version: str | None = None
    # Checked by FunctionStage (check_ttl, output_names) only when given.
    cache_ttl: float | None = None
    outputs: tuple[str, ...] | None = None
    display_name: str | None = None


class Stage(StageFields, abc.ABC):
    """One step of a pipeline. Subclass it for custom stage kinds.

    Subclasses provide `execute` and usually `parameters` (the names the stage takes; names
    of other stages are dependencies, the rest are pipeline inputs). A subclass that keeps
    the default `parameters` is written seed-style: its ``execute(self, context)`` gets the
    context mapping. ``on_success(self, result, context)`` / ``on_failure(...)`` methods
    are hooks, called after the hook callables of the same name.
    """

    def __init__(
        self,
        stage_id: str | None = None,
        name: str | None = None,
        depends_on: str | Iterable[str] | None = None,
        retry_count: int = 0,
        timeout_s: float | None = None,
        **fields: Any,
    ) -> None:
        """Either flowkit's keyword fields (``name=``, ``retry=``, ``timeout=``, ...) or the
        seed's ``(stage_id, name=None, depends_on=None, retry_count=0, timeout_s=None)``,
        whose ``name`` is a display name (`display_name`); the id is the stage's `name`."""
        if stage_id is None and not retry_count and timeout_s is None:
            fields["name"] = name
            if depends_on is not None:
                fields["depends_on"] = depends_on
        else:
            fields.update(seed_fields(stage_id, name, depends_on, retry_count, timeout_s))  # type: ignore[arg-type]
        StageFields.__init__(self, **fields)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        if (
            inspect.isfunction(execute)
            and cls.parameters is Stage.parameters
            and not getattr(execute, "takes_context_mapping", False)
        ):
            cls.execute = context_execute(execute)  # type: ignore[method-assign,assignment]

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names this stage takes, in signature order; by default only ``context``."""
        return CONTEXT_ONLY

    @abc.abstractmethod
    def execute(self, kwargs: dict[str, Any]) -> object:
        """Run the stage once with its arguments by name and return its output."""

    def __getstate__(self) -> dict[str, Any]:
        # Read-only views (shared empty mappings) do not pickle; their contents do.
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in vars(self).items()}

    # The seed's attribute names, readable and assignable (seed subclasses set them).

    @property
    def stage_id(self) -> str:
        """The seed's name for `name`."""
        return self.name

    @stage_id.setter
    def stage_id(self, value: str) -> None:
        self.name = value

    @property
    def retry_count(self) -> int:
        """The seed's number of retries; setting it gives the seed's backoff."""
        return self.retry.attempts - 1

    @retry_count.setter
    def retry_count(self, value: int) -> None:
        self.retry = seed_retry(self.name, value)

    @property
    def timeout_s(self) -> float | None:
        """The seed's name for `timeout`."""
        return self.timeout

    @timeout_s.setter
    def timeout_s(self, value: float | None) -> None:
        self.timeout = value

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Default values of the parameters that have one."""
        return EMPTY

    @property
    def annotations(self) -> Mapping[str, Any]:
        """Type annotations by parameter name, and ``"return"`` for the output."""
        return EMPTY

    @property
    def is_async(self) -> bool:
        """True when `execute` returns an awaitable."""
        return False

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        """Decide, just before an attempt, whether the stage runs (False: it is skipped)."""
        return True
