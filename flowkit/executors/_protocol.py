"""The small protocol an executor object implements, and what it runs remotely."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, Protocol, runtime_checkable

import attrs

from flowkit._stage import Stage


@attrs.frozen
class Completion:
    """One finished call, as reported by `Executor.wait`.

    Attributes:
        key: The key given to `Executor.submit`.
        ok: True when the call returned, False when it raised.
        value: The output (``ok``) or the exception.
        ref: What dependents receive instead of ``value`` (e.g. a Dask future, so data moves
            worker to worker); ``None`` means ``value`` itself.
        worker: Where the call ran (an address or process name), for events.
    """

    key: Hashable
    ok: bool
    value: Any
    ref: Any = None
    worker: str | None = None


@runtime_checkable
class Executor(Protocol):
    """Runs stage calls somewhere else; the driver in the calling process does the rest
    (scheduling, retries and their delays, timeouts, events, hooks, the cache).

    The driver calls `start` once (before ``pipeline.started``; it calls
    `shutdown` if ``start`` raises), then `submit` at most ``capacity`` calls at a
    time, `wait` for completions, `cancel` for a call whose timeout passed or
    that is no longer wanted, and `shutdown` once at the end (also after errors).
    """

    def start(self, max_workers: int | None) -> int:
        """Get ready; return how many calls may run at once (the capacity).
        ``max_workers`` is the run's limit, None when the user set none."""

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        """Start ``call_stage(stage, kwargs)``; ``kwargs`` may hold refs of earlier
        completions. Report a call that cannot even start (e.g. an argument that does not
        pickle) as a failed completion, do not raise."""

    def wait(self, timeout: float | None) -> list[Completion]:
        """Block until at least one call finished or ``timeout`` seconds passed."""

    def cancel(self, key: Hashable) -> None:
        """Stop call ``key`` (kill it if it runs); its completion is not reported."""

    def shutdown(self) -> None:
        """Release every resource; calls still running are abandoned."""


def call_stage(stage: Stage, kwargs: dict[str, Any]) -> Any:
    """Call ``stage`` once; what an executor runs on its workers. An async stage runs to
    completion on an event loop of its own there (the driver enforces timeouts)."""
    output = stage.execute(kwargs)
    if stage.is_async:
        return asyncio.run(output)  # type: ignore[arg-type]
    return output


def unpicklable_argument(
    stage: Stage,
    kwargs: dict[str, Any],
    dumps: Callable[[Any], bytes],
    why: str,
    skip: Callable[[Any], bool] = lambda value: False,
) -> TypeError | None:
    """A ``TypeError`` naming the first argument of ``stage`` that ``dumps`` cannot pickle
    (its parameter and type; ``why`` says where it was going), or None."""
    for param, value in kwargs.items():
        if skip(value):
            continue
        try:
            dumps(value)
        except Exception as error:  # noqa: BLE001 - this is the culprit we report
            return TypeError(
                f"stage {stage.name!r}: argument {param!r}: a value of type "
                f"{type(value).__qualname__} cannot be pickled ({error}); {why}"
            )
    return None
