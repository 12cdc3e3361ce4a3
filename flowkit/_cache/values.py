"""Process-independent hashes of argument values, for cache keys.

Built with hashlib from bytes that do not depend on the process (no ``id()``, no ``hash()``),
so the same arguments have the same digest in every process and every run.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from collections.abc import Callable, Mapping
from typing import Any

from flowkit._context import StageContext

__all__ = ["PICKLE_PROTOCOL", "UnhashableError", "call_digest", "feed", "type_name"]

PICKLE_PROTOCOL = 5  # fixed, so a newer Python's default protocol does not change the keys

_SMALL_CONTAINER = 1024  # bigger containers are hashed through pickle, which loops in C
_MAX_DEPTH = 32


class UnhashableError(Exception):
    """A value that cannot be hashed: pickling it raised ``reason`` (an exception type name).

    ``argument`` is the parameter it was passed as, when it is a call's argument.
    """

    def __init__(self, type_name: str, reason: str, argument: str | None = None) -> None:
        super().__init__(type_name, reason)
        self.type_name = type_name
        self.reason = reason
        self.argument = argument


class _HashWriter:
    """A file-like object for ``pickle.Pickler`` that feeds a hash instead of a file."""

    __slots__ = ("write",)

    def __init__(self, update: Callable[[bytes], object]) -> None:
        self.write = update


def _str(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return b"s%d:%b" % (len(data), data)


def _int(value: int) -> bytes:
    size = (value.bit_length() + 8) // 8
    return b"i%d:%b" % (size, value.to_bytes(size, "little", signed=True))


_SCALARS: dict[type, Callable[[Any], bytes]] = {
    str: _str,
    int: _int,
    float: lambda value: b"f" + struct.pack("<d", value),
    bool: lambda value: b"T" if value else b"F",
    type(None): lambda value: b"N",
    bytes: lambda value: b"b%d:%b" % (len(value), value),
}


def feed(update: Callable[[bytes], object], value: Any, depth: int = 0) -> None:
    """Feed ``value`` to a hash as unambiguous, process-independent bytes.

    Builtin scalars and small containers of them are encoded directly (fast, and sets are
    sorted so that string hash randomisation does not matter); anything else is pickled.

    Raises:
        UnhashableError: ``value`` cannot be pickled.
    """
    cls = value.__class__
    scalar = _SCALARS.get(cls)
    if scalar is not None:
        update(scalar(value))
    elif depth >= _MAX_DEPTH or not _feed_container(update, value, cls, depth + 1):
        sub = hashlib.sha256()
        try:
            pickle.Pickler(_HashWriter(sub.update), protocol=PICKLE_PROTOCOL).dump(value)
        except Exception as error:  # noqa: BLE001 - pickling user objects can raise anything
            raise UnhashableError(type_name(value), type(error).__name__) from None
        update(b"p" + sub.digest())


def _feed_container(update: Callable[[bytes], object], value: Any, cls: type, depth: int) -> bool:
    """Feed a small tuple, list or dict, or a set; False for anything else."""
    if (cls is tuple or cls is list) and len(value) <= _SMALL_CONTAINER:
        update(b"%s%d:" % (b"t" if cls is tuple else b"l", len(value)))
        for item in value:
            feed(update, item, depth)
    elif cls is dict and len(value) <= _SMALL_CONTAINER:
        update(b"d%d:" % len(value))  # insertion order counts, as it does for the function
        for key, item in value.items():
            feed(update, key, depth)
            feed(update, item, depth)
    elif cls is set or cls is frozenset:
        digests = []
        for item in value:
            sub = hashlib.sha256()
            feed(sub.update, item, depth)
            digests.append(sub.digest())
        update(b"%s%d:" % (b"S" if cls is set else b"F", len(digests)))
        update(b"".join(sorted(digests)))
    else:
        return False
    return True


def type_name(value: object) -> str:
    """The qualified name of ``value``'s type, without ``builtins.``."""
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def call_digest(prefix: bytes, kwargs: Mapping[str, Any]) -> str:
    """The hex digest of one call: ``prefix`` (see `stage_prefix`) and its arguments.

    Raises:
        UnhashableError: An argument cannot be hashed (``argument`` names it).
    """
    digest = hashlib.sha256(prefix)
    update = digest.update
    for name in sorted(kwargs):
        value = kwargs[name]
        feed(update, name)
        try:
            if isinstance(value, StageContext):  # its data, not its attempt or run id
                update(b"x%d:" % len(value))
                for item in sorted(value):
                    feed(update, item)
                    feed(update, value[item])
            else:
                feed(update, value)
        except UnhashableError as error:
            raise UnhashableError(error.type_name, error.reason, name) from None
    return digest.hexdigest()
