"""Signed, atomically written entry files: ``MAGIC``, an HMAC-SHA256 signature, the pickle.

An entry is written to a temporary file in its directory, fsynced and renamed into place, so
a reader sees a whole entry or none. Its signature (which also covers its key) is checked
before anything is unpickled, so a corrupt, truncated, foreign or moved entry is refused,
never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from flowkit._cache.files import ENTRY_SUFFIX, TEMP_SUFFIX
from flowkit._cache.values import PICKLE_PROTOCOL

__all__ = ["MAGIC", "EntryFiles", "InvalidEntryError", "StaleEntryError", "UnpicklableError"]

MAGIC = b"FKC1"
_MAC_SIZE = 32
_HEADER = len(MAGIC) + _MAC_SIZE


class InvalidEntryError(Exception):
    """An entry that is corrupt, truncated or not signed with this key (never unpickled)."""


class StaleEntryError(Exception):
    """A signed entry that no longer unpickles (e.g. a class renamed since it was written);
    the message is the type name of the error that unpickling raised."""


class UnpicklableError(Exception):
    """A value that cannot be pickled; the message is the type name of the error raised."""


class _SigningWriter:
    """What ``pickle.Pickler`` writes to: the entry file, and the signature as it goes."""

    __slots__ = ("file", "mac")

    def __init__(self, file: BinaryIO, mac: hmac.HMAC) -> None:
        self.file = file
        self.mac = mac

    def write(self, data: bytes) -> int:
        self.mac.update(data)
        return self.file.write(data)


class EntryFiles:
    """The entry files of one cache directory, signed with its key.

    A key is ``<stage directory>/<64 hex digits>``; its file is ``<root>/<key>.pkl``.
    Paths are str, not pathlib: on a hit, pathlib would cost more than reading the file.
    """

    __slots__ = ("_base_mac", "_root")

    def __init__(self, root: Path, secret: bytes) -> None:
        self._root = f"{root}{os.sep}"
        self._base_mac = hmac.new(secret, MAGIC, hashlib.sha256)

    def paths(self, key: str) -> tuple[str, str]:
        """The directory and the file of the entry ``key``.

        Raises:
            ValueError: ``key`` is not a key of this layout.
        """
        dirname, _, name = key.rpartition("/")
        if not dirname or "/" in dirname or dirname.startswith(".") or len(name) != 64:
            raise ValueError(f"{key!r} is not a key made by this cache")
        directory = self._root + dirname
        return directory, f"{directory}{os.sep}{name}{ENTRY_SUFFIX}"

    def read(self, key: str) -> Any:
        """The value of entry ``key``.

        Raises:
            FileNotFoundError: There is no such entry.
            OSError: It cannot be read.
            InvalidEntryError: It is corrupt, truncated or badly signed (never unpickled).
            StaleEntryError: It is signed but does not unpickle.
        """
        with open(self.paths(key)[1], "rb", buffering=0) as file:  # noqa: PTH123 - see class
            data = file.read()
        view = memoryview(data)
        if (
            len(data) < _HEADER
            or data[: len(MAGIC)] != MAGIC
            or not hmac.compare_digest(data[len(MAGIC) : _HEADER], self._sign(key, view[_HEADER:]))
        ):
            raise InvalidEntryError(key)
        try:
            # The signature proves this process's user wrote it: trusted like their own code.
            return pickle.loads(view[_HEADER:])  # noqa: S301
        except Exception as error:  # noqa: BLE001 - e.g. a class renamed since it was written
            raise StaleEntryError(type(error).__name__) from None

    def write(self, key: str, value: Any) -> None:
        """Save ``value`` as entry ``key``, atomically (streamed: a large value is never held
        twice in memory).

        Raises:
            UnpicklableError: ``value`` cannot be pickled (nothing is left behind).
            OSError: The file cannot be written (nothing is left behind).
        """
        directory, path = self.paths(key)
        try:
            fd, temp = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=directory)
        except FileNotFoundError:  # a new stage, or `flowkit cache clear` removed it
            Path(directory).mkdir(mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(MAGIC + bytes(_MAC_SIZE))
                mac = self._mac(key)
                try:
                    pickle.Pickler(_SigningWriter(file, mac), protocol=PICKLE_PROTOCOL).dump(value)
                except OSError:
                    raise
                except Exception as error:  # noqa: BLE001 - user objects can raise anything
                    raise UnpicklableError(type(error).__name__) from None
                file.seek(len(MAGIC))
                file.write(mac.digest())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)  # noqa: PTH105 - see class
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # noqa: PTH108 - see class
            raise

    def _sign(self, key: str, payload: bytes | memoryview) -> bytes:
        mac = self._mac(key)
        mac.update(payload)
        return mac.digest()

    def _mac(self, key: str) -> hmac.HMAC:
        mac = self._base_mac.copy()
        mac.update(key.encode())  # binds the entry to its key: a moved file is a miss
        mac.update(b"\0")
        return mac
