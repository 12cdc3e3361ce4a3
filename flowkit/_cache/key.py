"""The cache directory's signing key: create or check a private directory, read or create
its key file.

Anyone who can write the directory could plant entries, and anyone who can read the key
could forge them; either would make the cache unpickle their code. So both must belong to
the user who runs the pipeline and be closed to everyone else (checked on POSIX systems).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path

from flowkit._cache.files import KEY_FILE, TEMP_SUFFIX
from flowkit.errors import CacheError

__all__ = ["open_directory"]

_SECRET_SIZE = 32
_POSIX = os.name == "posix"
# The mode bits that open each file to other users, what they could then do, and the fix.
_OPEN = {
    "directory": (0o022, "writable", "make this process unpickle arbitrary code", "700"),
    "key": (0o077, "readable", "forge cache entries", "600"),
}


def open_directory(path: Path) -> bytes:
    """Create or check the cache directory; return its signing key.

    Raises:
        CacheError: The directory or its key cannot be used, or is open to other users.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as error:
        raise CacheError(f"cannot use cache directory {path}: {error.strerror or error}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"cache directory {path} is not a directory; pass a directory path")
    _check_private(path, st, "directory")
    key = path / KEY_FILE
    try:
        return _read_or_create_key(key)
    except OSError as error:
        if isinstance(error, CacheError):
            raise
        raise CacheError(f"cannot use cache key {key}: {error.strerror or error}") from None


def _check_private(path: Path, st: os.stat_result, what: str) -> None:
    """Refuse a ``what`` (see ``_OPEN``) of another user, or one open to other users."""
    if not _POSIX:
        return
    others, access, risk, chmod = _OPEN[what]
    if st.st_uid != os.geteuid():
        raise CacheError(
            f"cache {what} {path} belongs to another user (uid {st.st_uid}); a cache must be "
            "private to the user who runs the pipeline: use a directory you own"
        )
    if st.st_mode & others:
        raise CacheError(
            f"cache {what} {path} is {access} by other users (mode "
            f"{stat.S_IMODE(st.st_mode):o}), who could {risk}; "
            f"make it private with `chmod {chmod} {path}`"
        )


def _read_or_create_key(path: Path) -> bytes:
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    secret = os.urandom(_SECRET_SIZE)
    # mkstemp creates with O_CREAT | O_EXCL and mode 0600; linking publishes the complete key
    # exclusively, so a concurrent creator loses cleanly and no reader sees a partial key.
    fd, temp = tempfile.mkstemp(prefix=KEY_FILE + ".", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        _write_synced(fd, secret)
        try:
            os.link(temp, path)
        except FileExistsError:
            return _read_key(path)  # another process created it first: use theirs
        except OSError:  # no hard links on this file system: create in place, exclusively
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_key(path)
            _write_synced(fd, secret)
        return secret
    finally:
        with contextlib.suppress(OSError):
            Path(temp).unlink()


def _write_synced(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _read_key(path: Path) -> bytes:
    """Read the signing key (FileNotFoundError when there is none yet)."""
    deadline = time.monotonic() + 0.5  # a creator writes 32 bytes right after creating it
    while True:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CacheError(f"cache key {path} is not a regular file; delete it")
            _check_private(path, st, "key")
            secret = file.read(_SECRET_SIZE + 1)
        if len(secret) == _SECRET_SIZE:
            return secret
        if len(secret) > _SECRET_SIZE or time.monotonic() > deadline:
            raise CacheError(
                f"cache key {path} is invalid ({len(secret)} bytes, expected {_SECRET_SIZE}); "
                "delete it (existing entries then become misses and are recomputed)"
            )
        time.sleep(0.01)  # a creator without hard links is still writing it
