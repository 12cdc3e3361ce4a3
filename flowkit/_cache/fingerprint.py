"""Process-independent hashes for cache keys: of argument values and of a stage's code.

Everything is built with hashlib from bytes that do not depend on the process (no ``id()``,
no ``hash()``), so the same code called with the same arguments has the same key in every
process and every run.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import struct
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._context import StageContext
from flowkit._nested import NestedStage
from flowkit._stage import FunctionStage, Stage

__all__ = [
    "PICKLE_PROTOCOL",
    "UnhashableError",
    "call_digest",
    "fingerprint",
    "stage_prefix",
    "type_name",
]

PICKLE_PROTOCOL = 5  # fixed, so a newer Python's default protocol does not change the keys
_FORMAT = b"flowkit-cache/1\0" + (sys.implementation.cache_tag or "").encode() + b"\0"

# -- hashing values ----------------------------------------------------------------------------

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


def _feed(update: Callable[[bytes], object], value: Any, depth: int = 0) -> None:
    """Feed ``value`` to a hash as unambiguous, process-independent bytes.

    Builtin scalars and small containers of them are encoded directly (fast, and sets are
    sorted so that string hash randomisation does not matter); anything else is pickled.

    Raises:
        UnhashableError: ``value`` cannot be pickled.
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
            pickle.Pickler(_HashWriter(sub.update), protocol=PICKLE_PROTOCOL).dump(value)
        except Exception as error:  # noqa: BLE001 - pickling user objects can raise anything
            raise UnhashableError(type_name(value), type(error).__name__) from None
        update(b"p" + sub.digest())


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
        _feed(update, name)
        try:
            if isinstance(value, StageContext):  # its data, not its attempt or run id
                update(b"x%d:" % len(value))
                for item in sorted(value):
                    _feed(update, item)
                    _feed(update, value[item])
            else:
                _feed(update, value)
        except UnhashableError as error:
            raise UnhashableError(error.type_name, error.reason, name) from None
    return digest.hexdigest()


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
        elif isinstance(stage, ConditionalStage | NestedStage):
            # A condition decides whether it runs, a nesting under what name: not what it returns.
            self.stage(stage.inner)
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
        except UnhashableError:  # identified by its type only; documented (use version=)
            self.text(f"<unhashable {type_name(value)}>")

    def text(self, text: str) -> None:
        _feed(self.update, text)


def fingerprint(stage: Stage) -> bytes:
    """The code part of ``stage``'s keys: its ``version`` if given, else its code's hash."""
    if stage.version is not None:
        return b"version\0" + stage.version.encode("utf-8", "surrogatepass")
    fp = _Fingerprint()
    fp.stage(stage)
    return fp.hash.digest()


def stage_prefix(stage: Stage) -> bytes:
    """What every key of ``stage`` starts from: its name and `fingerprint`.

    Raises:
        Exception: Whatever reading an unusual callable raises (the stage then runs uncached).
    """
    prefix = hashlib.sha256(_FORMAT)
    _feed(prefix.update, stage.name)
    prefix.update(fingerprint(stage))
    return prefix.digest()
