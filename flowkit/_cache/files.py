"""The layout of a cache directory (which file is what), and counting or removing its files.

::

    DIR/.flowkit-cache-key        the signing key (see flowkit._cache.key)
    DIR/<stage>/<key>.pkl         one entry (see flowkit._cache.store)
    DIR/<stage>/.<random>.tmp     an entry being written, or left by an interrupted write
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

import attrs

from flowkit.errors import CacheError

__all__ = [
    "ENTRY_SUFFIX",
    "KEY_FILE",
    "TEMP_SUFFIX",
    "CacheStats",
    "clear",
    "scan",
    "stage_dirname",
]

KEY_FILE = ".flowkit-cache-key"
ENTRY_SUFFIX = ".pkl"
TEMP_SUFFIX = ".tmp"
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}" + re.escape(ENTRY_SUFFIX))  # a SHA-256 hex digest


def stage_dirname(name: str) -> str:
    """The directory holding a stage's entries: its name, percent-encoded to be path-safe."""
    encoded = quote(name, safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > 120:
        encoded = f"{encoded[:100]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return encoded


@attrs.frozen
class CacheStats:
    """What a cache directory holds.

    Attributes:
        path: The directory.
        stages: Stage name -> ``(entries, bytes)``, sorted by name.
        temporary: ``(files, bytes)`` of temporary files left by interrupted writes.
    """

    path: Path
    stages: Mapping[str, tuple[int, int]]
    temporary: tuple[int, int] = (0, 0)

    @property
    def entries(self) -> int:
        """The number of entries of every stage."""
        return sum(count for count, _ in self.stages.values())

    @property
    def size(self) -> int:
        """The bytes of every entry."""
        return sum(size for _, size in self.stages.values())


def _cache_directory(path: str | os.PathLike[str]) -> Path:
    directory = Path(path).absolute()
    if not directory.is_dir():
        raise CacheError(f"no cache directory at {directory}")
    if not (directory / KEY_FILE).exists():
        raise CacheError(
            f"{directory} is not a flowkit cache (it has no {KEY_FILE}); nothing was touched"
        )
    return directory


def _files(directory: Path, stages: Iterable[str] | None) -> dict[str, list[tuple[Path, bool]]]:
    """Stage directory name -> its entry files (True) and temporary files (False); the key
    ``""`` holds the temporary key files of the cache directory itself."""
    wanted = None if stages is None else {stage_dirname(name) for name in stages}
    found: dict[str, list[tuple[Path, bool]]] = {}
    for sub in sorted(directory.iterdir()):
        if sub.name.startswith(".") or sub.is_symlink() or not sub.is_dir():
            continue
        if wanted is not None and sub.name not in wanted:
            continue
        files = found.setdefault(sub.name, [])
        for file in sub.iterdir():
            if _ENTRY_NAME.fullmatch(file.name):
                files.append((file, True))
            elif file.name.startswith(".") and file.name.endswith(TEMP_SUFFIX):
                files.append((file, False))
    if stages is None:
        found[""] = [(file, False) for file in directory.glob(f"{KEY_FILE}.*{TEMP_SUFFIX}")]
    return found


def _tally(files: dict[str, list[tuple[Path, bool]]], directory: Path) -> CacheStats:
    stages: dict[str, tuple[int, int]] = {}
    temp = [0, 0]
    for dirname, entries in files.items():
        count = size = 0
        for file, is_entry in entries:
            try:
                nbytes = file.stat().st_size
            except FileNotFoundError:  # removed meanwhile by another process
                continue
            if is_entry:
                count, size = count + 1, size + nbytes
            else:
                temp[0], temp[1] = temp[0] + 1, temp[1] + nbytes
        if dirname and count:
            stages[unquote(dirname)] = (count, size)
    return CacheStats(directory, dict(sorted(stages.items())), (temp[0], temp[1]))


def scan(path: str | os.PathLike[str]) -> CacheStats:
    """Count the entries and bytes per stage of the cache at ``path`` (creates nothing).

    Raises:
        CacheError: ``path`` is not a flowkit cache directory.
    """
    directory = _cache_directory(path)
    return _tally(_files(directory, None), directory)


def clear(path: str | os.PathLike[str], stages: Iterable[str] | None = None) -> CacheStats:
    """Remove the entries of ``stages`` (every stage, and leftover temporary files, when
    None) from the cache at ``path``; the key stays. Return what was removed.

    Raises:
        CacheError: ``path`` is not a flowkit cache directory.
    """
    directory = _cache_directory(path)
    stages = None if stages is None else list(stages)
    files = _files(directory, stages)
    removed = _tally(files, directory)
    for dirname, entries in files.items():
        for file, _ in entries:
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
        if dirname:
            with contextlib.suppress(OSError):  # not empty: another process wrote meanwhile
                (directory / dirname).rmdir()
    return removed
