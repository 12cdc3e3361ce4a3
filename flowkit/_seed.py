"""What the seed ``pipelines`` module's forms mean in flowkit: the context mapping its
functions take, its stage options, and hook methods.

Seed-style code passes ids first (``FunctionStage("extract", fn)``) and writes functions of
one argument, the context. flowkit gives such a stage the single parameter ``context``, so
the engine hands it a `StageContext`; `seed_context` turns that into the mapping the seed
function expects, and leaves a mapping passed to ``execute`` by hand as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from flowkit._context import StageContext
from flowkit._retry import NO_RETRY, Retry
from flowkit.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from flowkit._results import StageResult

CONTEXT = "context"
SEED_BACKOFF = 0.1
"""The seed waits ``0.1 * 2**attempt`` seconds before retry ``attempt + 1``."""
HOOK_METHODS = {"success": "on_success", "failed": "on_failure"}


def output_key(stage_id: str) -> str:
    """The seed's second key for a dependency's output: ``stage_<id>_output``."""
    return f"stage_{stage_id}_output"


def seed_retry(stage_id: str, retry_count: int) -> Retry:
    """The seed's ``retry_count``: that many retries, 0.1 s doubling each time, no cap."""
    if isinstance(retry_count, bool) or not isinstance(retry_count, int) or retry_count < 0:
        raise PipelineDefinitionError(
            f"stage {stage_id!r}: retry_count counts retries and must be an int >= 0, "
            f"got {retry_count!r}"
        )
    if retry_count == 0:
        return NO_RETRY
    return Retry(retry_count + 1, SEED_BACKOFF, float("inf"))


def seed_fields(
    stage_id: str,
    name: str | None,
    depends_on: str | Iterable[str] | None,
    retry_count: int,
    timeout_s: float | None,
) -> dict[str, Any]:
    """The `Stage` fields of the seed's ``(stage_id, name, depends_on, retry_count,
    timeout_s)``. The id is flowkit's ``name``; the seed's ``name`` is a display name."""
    if not isinstance(stage_id, str):
        raise PipelineDefinitionError(f"a stage id must be a non-empty string, got {stage_id!r}")
    return {
        "name": stage_id,
        "depends_on": () if depends_on is None else depends_on,
        "retry": seed_retry(stage_id, retry_count),
        "timeout": timeout_s,
        "display_name": name,
    }


def is_run_call(kwargs: Mapping[str, Any]) -> bool:
    """True when ``kwargs`` are the engine's arguments for a stage that takes ``context``
    (rather than a context mapping passed to ``execute`` by hand)."""
    return kwargs.__class__ is dict and isinstance(kwargs.get(CONTEXT), StageContext)


def seed_context(kwargs: Mapping[str, Any], depends_on: Iterable[str]) -> Mapping[str, Any]:
    """The mapping a seed-style function receives.

    In a run: the stage's `StageContext` plus ``stage_<d>_output`` for each dependency ``d``
    whose output it holds. Called by hand: the mapping given, unchanged.
    """
    if not is_run_call(kwargs):
        return kwargs
    context: StageContext = kwargs[CONTEXT]
    aliases = {output_key(d): context[d] for d in depends_on if d in context}
    return context.with_data(aliases) if aliases else context


def context_execute(execute: Callable[[Any, Any], object]) -> Callable[[Any, Any], object]:
    """Wrap a seed-style ``execute(self, context)`` so that in a run it gets the context
    mapping, not flowkit's ``{"context": ...}`` arguments."""

    @functools.wraps(execute)
    def wrapper(self: Any, kwargs: Any) -> object:
        return execute(self, seed_context(kwargs, self.depends_on))

    wrapper.takes_context_mapping = True  # type: ignore[attr-defined]
    return wrapper


class HookMethod:
    """A stage's overriding ``on_success``/``on_failure`` method, called as a hook
    ``(result)`` with the context it needs bound here."""

    __slots__ = ("__name__", "_context", "_method")

    def __init__(self, method: Callable[..., object], context: Mapping[str, Any]) -> None:
        self._method = method
        self._context = context
        self.__name__ = getattr(method, "__qualname__", "hook")

    def __call__(self, result: StageResult) -> object:
        return self._method(result, self._context)


def hook_method(stage: Any, status: str) -> Callable[..., object] | None:
    """The bound ``on_success``/``on_failure`` method that ``stage``'s class (or, for a
    condition, its inner stage's class) defines for final status ``status``, or None."""
    attribute = HOOK_METHODS.get(status)
    if attribute is None:
        return None
    for owner in (stage, getattr(stage, "inner", None)):
        method = getattr(type(owner), attribute, None)
        if callable(method) and not isinstance(method, type):
            return method.__get__(owner)  # type: ignore[no-any-return]
    return None


def final_hooks(
    stage: Any, status: str, context: Callable[[], Mapping[str, Any]]
) -> Iterator[Callable[[StageResult], object]]:
    """The hooks to run once ``stage`` ended with ``status``: its hook callable, then its
    hook method (given ``context()``, built only when there is one)."""
    attribute = HOOK_METHODS.get(status)
    if attribute is None:
        return
    hook = getattr(stage, attribute, None)
    if hook is not None:
        yield hook
    method = hook_method(stage, status)
    if method is not None:
        yield HookMethod(method, context())


class ContextPredicate:
    """The seed's ``condition(context)`` as a flowkit condition taking ``context``."""

    __slots__ = ("depends_on", "predicate")

    def __init__(self, predicate: Callable[[Any], object], depends_on: Iterable[str]) -> None:
        self.predicate = predicate
        self.depends_on = tuple(depends_on)

    def __call__(self, context: Mapping[str, Any]) -> object:
        return self.predicate(seed_context({CONTEXT: context}, self.depends_on))

    def __repr__(self) -> str:
        # What `flowkit list` shows as the stage's when=: the seed's own predicate.
        predicate = self.predicate
        return str(getattr(predicate, "__qualname__", None) or repr(predicate))

    def __getstate__(self) -> tuple[Any, ...]:
        return self.predicate, self.depends_on

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.predicate, self.depends_on = state


def takes_context_mapping(stage: Any) -> bool:
    """True when ``stage.execute`` takes a context mapping (a seed-style stage)."""
    return bool(getattr(type(stage).execute, "takes_context_mapping", False))


def direct_arguments(stage: Any, context: Mapping[str, Any]) -> Any:
    """What ``stage.execute`` takes when called by hand with a seed context mapping."""
    if takes_context_mapping(stage):
        return context
    params = stage.parameters
    arguments = {p: context[p] for p in params if p in context and p != CONTEXT}
    if CONTEXT in params:
        arguments[CONTEXT] = context
    return arguments


class _Registry(Protocol):
    name: str
    context: dict[str, Any]

    def add(self, stage: Any) -> Any: ...


Registry = TypeVar("Registry", bound=_Registry)


class SeedPipelineMethods:
    """The seed's `Pipeline` methods, beside flowkit's."""

    def add_stage(self: Registry, stage: Any) -> Registry:
        """`Pipeline.add` that returns the pipeline, for chaining."""
        self.add(stage)
        return self

    def set_context(self: Registry, key: str, value: Any) -> Registry:
        """Set the default value of input ``key``; returns the pipeline."""
        self.context[key] = value
        return self

    @property
    def pipeline_id(self: _Registry) -> str:
        """The seed's name for `name`."""
        return self.name


def pipeline_names(
    stages: Any, name: str | None, pipeline_id: str | None
) -> tuple[Any, str, str | None]:
    """``(stages, name, display_name)`` of flowkit's ``Pipeline(stages, name=...)`` or the
    seed's ``Pipeline(pipeline_id, name)``: the id is the name, the seed's name a display
    name."""
    if isinstance(stages, str):
        stages, pipeline_id = (), stages
    if pipeline_id is None:
        return stages, name or "pipeline", None
    return stages, pipeline_id, name


def run_inputs(
    inputs: Mapping[str, Any] | None, initial_context: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """``run(initial_context=...)``, the seed's name for ``inputs``."""
    if initial_context is None:
        return inputs
    if inputs is not None:
        raise TypeError("pass the inputs as inputs= or initial_context=, not both")
    return initial_context


def check_takes_one(stage_id: str, func: object) -> None:
    """A seed-style function is called with the context alone: refuse one that cannot be."""
    if not callable(func):
        raise PipelineDefinitionError(
            f"stage {stage_id!r}: FunctionStage(stage_id, func) needs a callable, got {func!r}"
        )
    try:
        inspect.signature(func).bind(None)
    except TypeError as error:
        raise PipelineDefinitionError(
            f"stage {stage_id!r}: its function is called with one argument, the context "
            f"mapping, and cannot be ({error}); write it as def {stage_id}(context): ..."
        ) from None
    except ValueError:
        pass  # no signature to read (some builtins): it is tried when it runs
