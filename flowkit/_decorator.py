"""The ``@stage`` decorator, bare and called, optionally registering into a pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, Unpack, overload

from flowkit._base import StageOptions
from flowkit._composite import ConditionalStage
from flowkit._stage import FunctionStage, Stage

P = ParamSpec("P")
R = TypeVar("R")


def make_stage(
    fn: Callable[..., Any], *, when: Callable[..., object] | None = None, **options: Any
) -> Stage:
    """A `FunctionStage` of ``fn``, wrapped in a `ConditionalStage` for ``when``."""
    made = FunctionStage.of(fn) if not options else FunctionStage(fn, **options)
    return made if when is None else ConditionalStage(made, when)


class StageDecorator:
    """``@stage`` and ``@stage(...)``; ``register`` receives every stage it makes."""

    def __init__(self, register: Callable[[Stage], object] | None = None) -> None:
        self._register = register

    @overload
    def __call__(self, fn: Callable[P, R], /) -> FunctionStage[P, R]: ...

    @overload
    def __call__(
        self, fn: None = None, /, *, when: None = None, **options: Unpack[StageOptions]
    ) -> Callable[[Callable[P, R]], FunctionStage[P, R]]: ...

    @overload
    def __call__(
        self,
        fn: None = None,
        /,
        *,
        when: Callable[..., object],
        **options: Unpack[StageOptions],
    ) -> Callable[[Callable[P, R]], ConditionalStage[P, R]]: ...

    def __call__(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        when: Callable[..., object] | None = None,
        **options: Any,
    ) -> Any:
        """Turn a function into a stage.

        Args:
            fn: The function, in the bare form ``@stage``.
            when: A predicate; the stage is skipped when it returns false.
            **options: ``name``, ``depends_on``, ``retries``, ``backoff``, ``max_backoff``,
                ``jitter``, ``retry_on``, ``timeout``, ``on_success``, ``on_failure``,
                ``map_over``, ``tags``, ``cache``, ``version``.

        Returns:
            The stage, callable like ``fn``: a `FunctionStage`, or a `ConditionalStage`
            when ``when=`` is given. In the called form, a decorator that returns one.

        Raises:
            PipelineDefinitionError: The function or an option cannot make a valid stage.
        """

        def decorate(fn: Callable[..., Any]) -> Stage:
            made = make_stage(fn, when=when, **options)
            if self._register is not None:
                self._register(made)
            return made

        return decorate if fn is None else decorate(fn)


stage = StageDecorator()
