"""Process-independent hashes of a stage's code, for cache keys (argument values are hashed
in `flowkit._cache.values`): the same code has the same fingerprint in every process."""

from __future__ import annotations

import functools
import hashlib
import struct
import sys
import types
from typing import Any

import attrs

from flowkit._cache.values import UnhashableError, feed, type_name
from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._nested import NestedStage
from flowkit._stage import FunctionStage, Stage

__all__ = ["fingerprint", "stage_prefix"]

_FORMAT = b"flowkit-cache/1\0" + (sys.implementation.cache_tag or "").encode() + b"\0"

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
                feed(self.update, found)
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
        feed(self.update, (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars))
        names.update(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, names)
            else:
                feed(self.update, const)

    def value(self, value: object) -> None:
        if isinstance(value, types.FunctionType | functools.partial | Stage):
            self.callable(value)
            return
        try:
            feed(self.update, value)
        except UnhashableError:  # identified by its type only; documented (use version=)
            self.text(f"<unhashable {type_name(value)}>")

    def text(self, text: str) -> None:
        feed(self.update, text)


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
    feed(prefix.update, stage.name)
    prefix.update(fingerprint(stage))
    return prefix.digest()
