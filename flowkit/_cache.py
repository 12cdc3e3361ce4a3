"""The on-disk cache of stage outputs (DESIGN.md section 9).

One file per entry, ``DIR/<stage>/<key>.pkl``: a magic number, an HMAC-SHA256 signature and
the pickled output. An entry is written to a temporary file in the same directory, fsynced and
renamed into place, so a reader sees a whole entry or none; its signature (which also covers
its key) is checked before anything is unpickled, so a corrupt, truncated, foreign or moved
entry is a miss, never a value.

A key is the stage's name, a fingerprint of its code and a hash of its arguments, all built
with hashlib from bytes that do not depend on the process (no ``id()``, no ``hash()``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import pickle
import re
import stat
import struct
import sys
import tempfile
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import attrs

from flowkit._context import StageContext
from flowkit._stage import ConditionalStage, FunctionStage, ParallelStage, Stage
from flowkit.errors import CacheError, did_you_mean

__all__ = ["KEY_FILE", "Cache", "CacheStats", "clear", "scan"]

LOGGER_NAME = "flowkit.cache"
KEY_FILE = ".flowkit-cache-key"
ENTRY_SUFFIX = ".pkl"
TEMP_SUFFIX = ".tmp"
MAGIC = b"FKC1"
_SECRET_SIZE = 32
_MAC_SIZE = 32
_HEADER = len(MAGIC) + _MAC_SIZE
_PROTOCOL = 5  # fixed, so a newer Python's default protocol does not change the keys
_FORMAT = b"flowkit-cache/1\0" + (sys.implementation.cache_tag or "").encode() + b"\0"
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.pkl")
_MISS: tuple[bool, Any] = (False, None)
_POSIX = os.name == "posix"

# -- hashing values ----------------------------------------------------------------------------

_SMALL_CONTAINER = 1024  # bigger containers are hashed through pickle, which loops in C
_MAX_DEPTH = 32


class _UnhashableError(Exception):
    def __init__(self, type_name: str, reason: str) -> None:
        super().__init__(type_name, reason)
        self.type_name = type_name
        self.reason = reason


class _HashWriter:
    """A file-like object for ``pickle.Pickler`` that feeds a hash instead of a file."""

    __slots__ = ("write",)

    def __init__(self, update: Callable[[bytes], object]) -> None:
        self.write = update


def _feed(update: Callable[[bytes], object], value: Any, depth: int = 0) -> None:
    """Feed ``value`` to a hash as unambiguous, process-independent bytes.

    Builtin scalars and small containers of them are encoded directly (fast, and sets are
    sorted so that string hash randomisation does not matter); anything else is pickled.

    Raises:
        _UnhashableError: ``value`` cannot be pickled.
    """
    cls = value.__class__
    if cls is str:
        data = value.encode("utf-8", "surrogatepass")
        update(b"s%d:" % len(data))
        update(data)
    elif cls is int:
        size = (value.bit_length() + 8) // 8
        update(b"i%d:" % size)
        update(value.to_bytes(size, "little", signed=True))
    elif cls is float:
        update(b"f" + struct.pack("<d", value))
    elif cls is bool:
        update(b"T" if value else b"F")
    elif value is None:
        update(b"N")
    elif cls is bytes:
        update(b"b%d:" % len(value))
        update(value)
    elif (cls is tuple or cls is list) and len(value) <= _SMALL_CONTAINER and depth < _MAX_DEPTH:
        update(b"%s%d:" % (b"t" if cls is tuple else b"l", len(value)))
        for item in value:
            _feed(update, item, depth + 1)
    elif cls is dict and len(value) <= _SMALL_CONTAINER and depth < _MAX_DEPTH:
        update(b"d%d:" % len(value))  # insertion order counts, as it does for the function
        for item in value.items():
            _feed(update, item[0], depth + 1)
            _feed(update, item[1], depth + 1)
    elif (cls is set or cls is frozenset) and depth < _MAX_DEPTH:
        digests = []
        for item in value:
            sub = hashlib.sha256()
            _feed(sub.update, item, depth + 1)
            digests.append(sub.digest())
        update(b"%s%d:" % (b"S" if cls is set else b"F", len(digests)))
        update(b"".join(sorted(digests)))
    else:
        sub = hashlib.sha256()
        try:
            pickle.Pickler(_HashWriter(sub.update), protocol=_PROTOCOL).dump(value)
        except Exception as error:  # noqa: BLE001 - pickling user objects can raise anything
            raise _UnhashableError(_type_name(value), type(error).__name__) from None
        update(b"p" + sub.digest())


def _type_name(value: object) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


# -- fingerprinting code -----------------------------------------------------------------------

_CONSTANT_TYPES = (str, bytes, int, float, complex, bool, type(None))
_SKIPPED_MODULES = frozenset({"builtins", "abc", "typing"})
_STAGE_FIELDS = frozenset(a.name for a in attrs.fields(Stage))


def _is_constant(value: object) -> bool:
    if isinstance(value, tuple | frozenset):
        return all(type(item) in _CONSTANT_TYPES for item in value)
    return type(value) in _CONSTANT_TYPES


class _Fingerprint:
    """The hash of a stage's code: bytecode, constants, defaults, closures, the same-module
    functions and constants it reads, and what it wraps, recursively."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256(_FORMAT)
        self.update = self.hash.update
        self.seen: set[int] = set()  # ids only guard against loops; they never reach the hash

    def stage(self, stage: Stage) -> None:
        if isinstance(stage, FunctionStage):
            self.callable(stage.fn)
        elif isinstance(stage, ConditionalStage):
            self.stage(stage.inner)  # the condition decides whether it runs, not what it returns
        elif isinstance(stage, ParallelStage):
            for child in stage.stages:
                self.text(child.name)
                if child.version is not None:
                    self.text(child.version)
                else:
                    self.stage(child)
        else:
            self.klass(type(stage))
            state = {k: v for k, v in vars(stage).items() if k not in _STAGE_FIELDS}
            for name in sorted(state):
                self.text(name)
                self.value(state[name])

    def callable(self, fn: Any) -> None:
        if id(fn) in self.seen:
            self.update(b"<again>")
            return
        self.seen.add(id(fn))
        if isinstance(fn, Stage):
            self.stage(fn)
        elif isinstance(fn, types.FunctionType):
            self.function(fn)
        elif isinstance(fn, types.MethodType):
            self.callable(fn.__func__)
            self.value(fn.__self__)
        elif isinstance(fn, functools.partial):
            self.callable(fn.func)
            self.value(fn.args)
            self.value(fn.keywords)
        elif isinstance(fn, type):
            self.klass(fn)
        elif isinstance(fn, types.BuiltinFunctionType | types.BuiltinMethodType):
            self.text(f"{getattr(fn, '__module__', None)}.{fn.__qualname__}")
        else:  # a callable object: its class's code and its state
            self.klass(type(fn))
            self.value(fn)

    def klass(self, cls: type) -> None:
        self.text(f"{cls.__module__}.{cls.__qualname__}")
        for base in cls.__mro__:
            module = base.__module__
            if module in _SKIPPED_MODULES or module.startswith("flowkit."):
                continue
            for name, member in sorted(vars(base).items()):
                if isinstance(member, types.FunctionType) and id(member) not in self.seen:
                    self.text(name)
                    self.seen.add(id(member))
                    self.function(member)

    def function(self, fn: types.FunctionType) -> None:
        self.text(fn.__qualname__)
        names: set[str] = set()
        self.code(fn.__code__, names)
        self.value(fn.__defaults__)
        self.value(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                self.update(b"<empty>")
            else:
                self.value(content)
        namespace = fn.__globals__
        for name in sorted(names):
            if name not in namespace:
                continue
            found = namespace[name]
            if isinstance(found, types.FunctionType) and found.__globals__ is namespace:
                self.text(name)
                self.callable(found)
            elif _is_constant(found):
                self.text(name)
                _feed(self.update, found)
        wrapped = fn.__dict__.get("__wrapped__")
        if wrapped is not None:
            self.callable(wrapped)

    def code(self, code: types.CodeType, names: set[str]) -> None:
        self.update(b"c%d:" % len(code.co_code))
        self.update(code.co_code)
        self.update(
            struct.pack(
                "<4q",
                code.co_argcount,
                code.co_posonlyargcount,
                code.co_kwonlyargcount,
                code.co_flags,
            )
        )
        _feed(self.update, (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars))
        names.update(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, names)
            else:
                _feed(self.update, const)

    def value(self, value: object) -> None:
        if isinstance(value, types.FunctionType | functools.partial | Stage):
            self.callable(value)
            return
        try:
            _feed(self.update, value)
        except _UnhashableError:  # identified by its type only; documented (use version=)
            self.text(f"<unhashable {_type_name(value)}>")

    def text(self, text: str) -> None:
        _feed(self.update, text)


def fingerprint(stage: Stage) -> bytes:
    """The code part of ``stage``'s keys: its ``version`` if given, else its code's hash."""
    if stage.version is not None:
        return b"version\0" + stage.version.encode("utf-8", "surrogatepass")
    fp = _Fingerprint()
    fp.stage(stage)
    return fp.hash.digest()


def stage_dirname(name: str) -> str:
    """The directory holding a stage's entries: its name, percent-encoded to be path-safe."""
    encoded = quote(name, safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > 120:
        encoded = f"{encoded[:100]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return encoded


# -- the directory and its key -----------------------------------------------------------------


def _check_owner(path: Path, st: os.stat_result, what: str) -> None:
    if _POSIX and st.st_uid != os.geteuid():
        raise CacheError(
            f"cache {what} {path} belongs to another user (uid {st.st_uid}); a cache must be "
            "private to the user who runs the pipeline: use a directory you own"
        )


def _open_directory(path: Path) -> bytes:
    """Create or check the cache directory; return its signing key."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as error:
        raise CacheError(f"cannot use cache directory {path}: {error.strerror or error}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"cache directory {path} is not a directory; pass a directory path")
    _check_owner(path, st, "directory")
    if _POSIX and st.st_mode & 0o022:
        raise CacheError(
            f"cache directory {path} is writable by other users (mode "
            f"{stat.S_IMODE(st.st_mode):o}), who could make this process unpickle arbitrary "
            f"code; make it private with `chmod 700 {path}`"
        )
    return _key(path / KEY_FILE)


def _key(path: Path) -> bytes:
    try:
        return _read_or_create_key(path)
    except OSError as error:
        if isinstance(error, CacheError):
            raise
        raise CacheError(f"cannot use cache key {path}: {error.strerror or error}") from None


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
        with os.fdopen(fd, "wb") as file:
            file.write(secret)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return _read_key(path)  # another process created it first: use theirs
        except OSError:  # no hard links on this file system: create in place, exclusively
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_key(path)
            with os.fdopen(fd, "wb") as file:
                file.write(secret)
                file.flush()
                os.fsync(file.fileno())
        return secret
    finally:
        with contextlib.suppress(OSError):
            Path(temp).unlink()


def _read_key(path: Path) -> bytes:
    """Read the signing key (FileNotFoundError when there is none yet)."""
    deadline = time.monotonic() + 0.5  # a creator writes 32 bytes right after creating it
    while True:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CacheError(f"cache key {path} is not a regular file; delete it")
            _check_owner(path, st, "key")
            if _POSIX and st.st_mode & 0o077:
                raise CacheError(
                    f"cache key {path} is readable by other users (mode "
                    f"{stat.S_IMODE(st.st_mode):o}), who could forge cache entries; "
                    f"make it private with `chmod 600 {path}`"
                )
            secret = file.read(_SECRET_SIZE + 1)
        if len(secret) == _SECRET_SIZE:
            return secret
        if len(secret) > _SECRET_SIZE or time.monotonic() > deadline:
            raise CacheError(
                f"cache key {path} is invalid ({len(secret)} bytes, expected {_SECRET_SIZE}); "
                "delete it (existing entries then become misses and are recomputed)"
            )
        time.sleep(0.01)  # a creator without hard links is still writing it


# -- the cache ---------------------------------------------------------------------------------


class _SigningWriter:
    """What ``pickle.Pickler`` writes to: the entry file, and the signature as it goes."""

    __slots__ = ("file", "mac")

    def __init__(self, file: Any, mac: hmac.HMAC) -> None:
        self.file = file
        self.mac = mac

    def write(self, data: bytes) -> int:
        self.mac.update(data)
        return int(self.file.write(data))


class _UnpicklableError(Exception):
    pass


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
        self._root = f"{self.path}{os.sep}"
        self._base_mac = hmac.new(_open_directory(self.path), MAGIC, hashlib.sha256)
        self._lock = threading.Lock()
        self._identities: weakref.WeakKeyDictionary[Stage, tuple[str, bytes] | None] = (
            weakref.WeakKeyDictionary()
        )
        self._warned: set[tuple[str, str]] = set()

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
        digest = hashlib.sha256(prefix)
        update = digest.update
        for name in sorted(kwargs):
            value = kwargs[name]
            _feed(update, name)
            try:
                if isinstance(value, StageContext):  # its data, not its attempt or run id
                    update(b"x%d:" % len(value))
                    for item in sorted(value):
                        _feed(update, item)
                        _feed(update, value[item])
                else:
                    _feed(update, value)
            except _UnhashableError as error:
                self._warn(
                    stage.name,
                    "argument",
                    "stage %r: argument %r (%s) cannot be hashed (pickling it raised %s), so "
                    "its calls run uncached; make it picklable or pass what it holds as inputs",
                    stage.name,
                    name,
                    error.type_name,
                    error.reason,
                )
                return None
        return f"{dirname}/{digest.hexdigest()}"

    def load(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for a valid entry, else ``(False, None)``: missing, corrupt,
        truncated or badly signed entries are misses and are never unpickled."""
        path = self._entry(key)[1]
        try:
            with open(path, "rb", buffering=0) as file:  # noqa: PTH123 - see _entry
                data = file.read()
        except FileNotFoundError:
            return _MISS
        except OSError as error:
            self._warn_key(key, "read", "cannot read cache entry %s (%s)", path, error.strerror)
            return _MISS
        view = memoryview(data)
        if (
            len(data) < _HEADER
            or data[: len(MAGIC)] != MAGIC
            or not hmac.compare_digest(data[len(MAGIC) : _HEADER], self._sign(key, view[_HEADER:]))
        ):
            self._warn_key(
                key,
                "invalid",
                "ignored cache entry %s: it is corrupt, truncated or not signed with this "
                "cache's key; the stage runs again and overwrites it",
                path,
            )
            return _MISS
        try:
            # The signature proves this process's user wrote it: trusted like their own code.
            return True, pickle.loads(view[_HEADER:])  # noqa: S301
        except Exception as error:  # noqa: BLE001 - e.g. a class renamed since it was written
            self._warn_key(
                key,
                "unpickle",
                "cannot unpickle cache entry %s (%s); the stage runs again",
                path,
                type(error).__name__,
            )
            return _MISS

    def store(self, key: str, value: Any) -> None:
        """Save ``value`` atomically. A value that cannot be pickled, or a write that fails,
        is logged once per stage and not cached; it never raises."""
        directory, path = self._entry(key)
        try:
            self._write(directory, path, key, value)
        except _UnpicklableError as error:
            self._warn_key(
                key,
                "output",
                "the output of stage %r (%s) cannot be pickled (%s), so it is not cached",
                unquote(key.rpartition("/")[0]),
                _type_name(value),
                error,
            )
        except OSError as error:
            self._warn_key(
                key, "write", "cannot write cache entry %s (%s)", path, error.strerror or error
            )

    # -- housekeeping ----------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Entries and bytes per stage (see :func:`scan`)."""
        return scan(self.path)

    def clear(self, stages: Iterable[str] | None = None) -> CacheStats:
        """Remove the entries of ``stages`` (all when None); return what was removed."""
        return clear(self.path, stages)

    # -- internals -------------------------------------------------------------------------

    def _identity(self, stage: Stage) -> tuple[str, bytes] | None:
        with self._lock:
            try:
                return self._identities[stage]
            except KeyError:
                pass
        try:
            code = fingerprint(stage)
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
        else:
            prefix = hashlib.sha256(_FORMAT)
            _feed(prefix.update, stage.name)
            prefix.update(code)
            identity = (stage_dirname(stage.name), prefix.digest())
        with self._lock:
            self._identities[stage] = identity
        return identity

    def _entry(self, key: str) -> tuple[str, str]:
        """The directory and file of an entry, as str: on a hit, pathlib would cost more than
        reading the file."""
        dirname, _, name = key.rpartition("/")
        if not dirname or "/" in dirname or dirname.startswith(".") or len(name) != 64:
            raise ValueError(f"{key!r} is not a key made by this cache")
        directory = self._root + dirname
        return directory, f"{directory}{os.sep}{name}{ENTRY_SUFFIX}"

    def _sign(self, key: str, payload: bytes | memoryview) -> bytes:
        mac = self._mac(key)
        mac.update(payload)
        return mac.digest()

    def _mac(self, key: str) -> hmac.HMAC:
        mac = self._base_mac.copy()
        mac.update(key.encode())  # binds the entry to its key: a moved file is a miss
        mac.update(b"\0")
        return mac

    def _write(self, directory: str, path: str, key: str, value: Any) -> None:
        try:
            fd, temp = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=directory)
        except FileNotFoundError:  # a new stage, or `flowkit cache clear` removed it
            Path(directory).mkdir(mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(MAGIC + bytes(_MAC_SIZE))
                mac = self._mac(key)
                try:  # streamed: a large value is never held twice in memory
                    pickle.Pickler(_SigningWriter(file, mac), protocol=_PROTOCOL).dump(value)
                except OSError:
                    raise
                except Exception as error:  # noqa: BLE001 - user objects can raise anything
                    raise _UnpicklableError(type(error).__name__) from None
                file.seek(len(MAGIC))
                file.write(mac.digest())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)  # noqa: PTH105 - see _entry
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # noqa: PTH108 - see _entry
            raise

    def _warn_key(self, key: str, kind: str, message: str, *args: object) -> None:
        self._warn(unquote(key.rpartition("/")[0]), kind, message, *args)

    def _warn(self, stage: str, kind: str, message: str, *args: object) -> None:
        with self._lock:
            if (stage, kind) in self._warned:
                return
            self._warned.add((stage, kind))
        logging.getLogger(LOGGER_NAME).warning(message, *args)


# -- inspecting and clearing a directory -------------------------------------------------------


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


def unknown_stages(stats: CacheStats, names: Iterable[str]) -> dict[str, str]:
    """The names that have no directory in ``stats``, each with a "did you mean" hint."""
    return {name: did_you_mean(name, stats.stages) for name in names if name not in stats.stages}
