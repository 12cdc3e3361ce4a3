"""The retry policy of a stage."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from flowkit.errors import PipelineDefinitionError

RetryPredicate = Callable[[BaseException], bool]
"""``retry_on=`` as a function: called with the error, true means retry."""
RetryOn = type[BaseException] | tuple[type[BaseException], ...] | RetryPredicate
"""What ``retry_on=`` takes."""


def _exception_types(value: Any) -> tuple[type[BaseException], ...] | RetryPredicate:
    if callable(value) and not isinstance(value, type):
        return value  # type: ignore[no-any-return]
    types = value if isinstance(value, tuple | list) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise PipelineDefinitionError(
                "retry_on must be an exception type, a tuple of them, or a predicate "
                f"taking the error and returning true to retry, got {t!r}"
            )
    return tuple(types)


def _delays(value: Any) -> float | tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return value  # type: ignore[return-value]
    delays = tuple(value)
    if not delays or not all(
        isinstance(d, int | float) and not isinstance(d, bool) and d >= 0 for d in delays
    ):
        raise PipelineDefinitionError(
            "backoff as a list gives the delay in seconds before each retry (the last "
            f"repeats) and needs at least one number >= 0, got {value!r}"
        )
    return tuple(float(d) for d in delays)


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, tuple):
        return  # a list of delays, checked by its converter
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PipelineDefinitionError(
            f"{attribute.name} must be a number >= 0 (seconds), got {value!r}"
        )


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineDefinitionError(
            f"{attribute.name} counts the first try and must be an int >= 1, got {value!r}"
        )


@attrs.frozen
class Retry:
    """How often and how patiently a stage is retried.

    Args:
        attempts: Total tries, the first one included (``retries + 1``).
        backoff: Delay in seconds before the first retry; it doubles for each further
            retry, capped by ``max_backoff``. A sequence of delays gives the delay before
            each retry in turn, the last one repeating; it is taken as written
            (``max_backoff`` does not cap it).
        max_backoff: The cap on any one doubling delay.
        jitter: Multiply each delay by a random factor in [0.5, 1.5).
        on: The exception types that are retried (others fail the stage at once), or a
            predicate called with the error: true retries. A predicate that raises counts
            as false; its error is added as a note to the stage's error.
    """

    attempts: int = attrs.field(default=1, validator=_at_least_one)
    backoff: float | tuple[float, ...] = attrs.field(
        default=0.0, converter=_delays, validator=_non_negative
    )
    max_backoff: float = attrs.field(default=60.0, validator=_non_negative)
    jitter: bool = False
    on: tuple[type[BaseException], ...] | RetryPredicate = attrs.field(
        default=(Exception,), converter=_exception_types
    )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        backoff = self.backoff
        if isinstance(backoff, tuple):
            delay = backoff[min(attempt, len(backoff)) - 1]
        else:
            delay = float(min(backoff * 2 ** (attempt - 1), self.max_backoff))
        if self.jitter:
            delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not cryptography
        return delay

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """True when failed attempt ``attempt`` is followed by another one."""
        if attempt >= self.attempts:
            return False
        on = self.on
        if isinstance(on, tuple):
            return isinstance(error, on)
        return _ask(on, error)


def _ask(predicate: RetryPredicate, error: BaseException) -> bool:
    try:
        return bool(predicate(error))
    except Exception as raised:  # noqa: BLE001 - the stage fails with its own error
        name = getattr(predicate, "__qualname__", repr(predicate))
        error.add_note(
            f"not retried: the retry_on predicate {name} raised {type(raised).__name__}: {raised}"
        )
        return False


NO_RETRY = Retry()
