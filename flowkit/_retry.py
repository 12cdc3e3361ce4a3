"""The retry policy of a stage."""

from __future__ import annotations

import random
from typing import Any

import attrs

from flowkit.errors import PipelineDefinitionError


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple | list) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise PipelineDefinitionError(
                f"retry_on must be an exception type or a tuple of them, got {t!r}"
            )
    return tuple(types)


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise PipelineDefinitionError(f"{attribute.name} must be >= 0, got {value!r}")


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
        backoff: Delay in seconds before the first retry; it doubles for each further retry.
        max_backoff: The cap on any one delay.
        jitter: Multiply each delay by a random factor in [0.5, 1.5).
        on: The exception types that are retried; others fail the stage at once.
    """

    attempts: int = attrs.field(default=1, validator=_at_least_one)
    backoff: float = attrs.field(default=0.0, validator=_non_negative)
    max_backoff: float = attrs.field(default=60.0, validator=_non_negative)
    jitter: bool = False
    on: tuple[type[BaseException], ...] = attrs.field(
        default=(Exception,), converter=_exception_types
    )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        delay = float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
        if self.jitter:
            delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not cryptography
        return delay

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """True when failed attempt ``attempt`` is followed by another one."""
        return attempt < self.attempts and isinstance(error, self.on)


NO_RETRY = Retry()
