"""On-disk cache of stage outputs (placeholder: being implemented for DESIGN.md section 9)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flowkit._stage import Stage


class Cache:
    """A directory of signed, atomically written stage outputs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        raise NotImplementedError("the cache is not implemented yet")

    def key(self, stage: Stage, kwargs: Mapping[str, Any]) -> str | None:
        """The entry key of one call, or None when the arguments cannot be hashed."""
        raise NotImplementedError

    def load(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` on a valid hit, ``(False, None)`` otherwise."""
        raise NotImplementedError

    def store(self, key: str, value: Any) -> None:
        """Save ``value``."""
        raise NotImplementedError
