"""The on-disk cache of stage outputs (DESIGN.md section 9): ``flowkit.Cache``.

``Cache`` is what the engine talks to: it makes each call's key (the stage's name, a
fingerprint of its code and a hash of its arguments, see `flowkit._cache.fingerprint`), and
loads and stores signed entries (`flowkit._cache.store`) in a private directory
(`flowkit._cache.key`, layout in `flowkit._cache.files`). Caching never fails a
run: whatever cannot be hashed, pickled, read or written is logged once per stage and run
uncached.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flowkit._cache import files as _cache_files
from flowkit._cache.files import CacheStats, stage_dirname
from flowkit._cache.fingerprint import stage_prefix
from flowkit._cache.key import open_directory
from flowkit._cache.store import EntryFiles, InvalidEntryError, StaleEntryError, UnpicklableError
from flowkit._cache.values import UnhashableError, call_digest, type_name
from flowkit._stage import Stage

__all__ = ["Cache"]

LOGGER_NAME = "flowkit.cache"
_MISS: tuple[bool, Any] = (False, None)


class Cache:
    """A directory of signed, atomically written stage outputs; pass it (or its path) as
    ``pipeline.run(..., cache=...)``.

    Thread-safe, and several processes may share one directory.

    Args:
        path: The directory. It is created with mode 0700 when absent.

    Raises:
        CacheError: The directory or its key file is accessible to other users, or cannot
            be created.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._entries = EntryFiles(self.path, open_directory(self.path))
        self._lock = threading.Lock()
        # Keyed by id(): a user's attrs Stage subclass may be unhashable. The stage is kept
        # alongside, so its id cannot be reused while the entry exists.
        self._identities: dict[int, tuple[Stage, tuple[str, bytes] | None]] = {}
        self._warned: set[tuple[str, str]] = set()
        # Stage directory -> cache_ttl, for the stages that have one (see `load`).
        self._ttls: dict[str, float] = {}

    def __reduce__(self) -> tuple[type[Cache], tuple[str]]:
        # The key stays on disk: an unpickled Cache reads it again from the directory.
        return (Cache, (str(self.path),))

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # -- the engine's protocol -------------------------------------------------------------

    def key(self, stage: Stage, kwargs: Mapping[str, Any]) -> str | None:
        """The entry key of one call of ``stage``, or None when an argument cannot be hashed
        (the call then runs uncached; this is logged once per stage)."""
        identity = self._identity(stage)
        if identity is None:
            return None
        dirname, prefix = identity
        try:
            return f"{dirname}/{call_digest(prefix, kwargs)}"
        except UnhashableError as error:
            self._warn(
                stage.name,
                "argument",
                "stage %r: argument %r (%s) cannot be hashed (pickling it raised %s), so "
                "its calls run uncached; make it picklable or pass what it holds as inputs",
                stage.name,
                error.argument,
                error.type_name,
                error.reason,
            )
            return None

    def load(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for a valid entry, else ``(False, None)``: missing, corrupt,
        truncated or badly signed entries are misses and are never unpickled; so is an
        entry older than its stage's ``cache_ttl`` (it is recomputed and overwritten)."""
        try:
            if self._ttls and self._expired(key):
                return _MISS
            return True, self._entries.read(key)
        except FileNotFoundError:
            return _MISS
        except OSError as error:
            path = self._entries.paths(key)[1]
            self._warn_key(key, "read", "cannot read cache entry %s (%s)", path, error.strerror)
        except InvalidEntryError:
            self._warn_key(
                key,
                "invalid",
                "ignored cache entry %s: it is corrupt, truncated or not signed with this "
                "cache's key; the stage runs again and overwrites it",
                self._entries.paths(key)[1],
            )
        except StaleEntryError as error:
            self._warn_key(
                key,
                "unpickle",
                "cannot unpickle cache entry %s (%s); the stage runs again",
                self._entries.paths(key)[1],
                error,
            )
        return _MISS

    def store(self, key: str, value: Any) -> None:
        """Save ``value`` atomically. A value that cannot be pickled, or a write that fails,
        is logged once per stage and not cached; it never raises."""
        try:
            self._entries.write(key, value)
        except UnpicklableError as error:
            self._warn_key(
                key,
                "output",
                "the output of stage %r (%s) cannot be pickled (%s), so it is not cached",
                _stage_of(key),
                type_name(value),
                error,
            )
        except OSError as error:
            path = self._entries.paths(key)[1]
            self._warn_key(
                key, "write", "cannot write cache entry %s (%s)", path, error.strerror or error
            )

    # -- housekeeping ----------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Entries and bytes per stage (see `flowkit._cache.files.scan`)."""
        return _cache_files.scan(self.path)

    def clear(self, stages: Iterable[str] | None = None) -> CacheStats:
        """Remove the entries of ``stages`` (all when None); return what was removed."""
        return _cache_files.clear(self.path, stages)

    # -- internals -------------------------------------------------------------------------

    def _identity(self, stage: Stage) -> tuple[str, bytes] | None:
        """The stage's directory and key prefix, computed once per stage object."""
        with self._lock:
            known = self._identities.get(id(stage))
            if known is not None:
                return known[1]
        try:
            identity = (stage_dirname(stage.name), stage_prefix(stage))
        except Exception as error:  # noqa: BLE001 - a callable we cannot read runs uncached
            self._warn(
                stage.name,
                "code",
                "stage %r: cannot fingerprint its code (%s), so it runs uncached; "
                "pass version=... to @stage to cache it",
                stage.name,
                type(error).__name__,
            )
            identity = None
        with self._lock:
            self._identities[id(stage)] = (stage, identity)
            if identity is not None and stage.cache_ttl is not None:
                self._ttls[identity[0]] = stage.cache_ttl
        return identity

    def _expired(self, key: str) -> bool:
        ttl = self._ttls.get(key.partition("/")[0])
        if ttl is None:
            return False
        written = os.stat(self._entries.paths(key)[1]).st_mtime  # noqa: PTH116 - a str path
        return time.time() - written > ttl

    def _warn_key(self, key: str, kind: str, message: str, *args: object) -> None:
        self._warn(_stage_of(key), kind, message, *args)

    def _warn(self, stage: str, kind: str, message: str, *args: object) -> None:
        with self._lock:
            if (stage, kind) in self._warned:
                return
            self._warned.add((stage, kind))
        logging.getLogger(LOGGER_NAME).warning(message, *args)


def _stage_of(key: str) -> str:
    """The stage name of an entry key (exact for names short enough not to be hashed)."""
    return unquote(key.rpartition("/")[0])
