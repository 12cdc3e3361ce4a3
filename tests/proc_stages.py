"""Module-level stages for the processes executor tests (workers import them by name)."""

from __future__ import annotations

import os
import threading
import time

from flowkit import Pipeline, stage


@stage
def base(x: int) -> int:
    return x + 1


@stage
def pid(base: int) -> int:
    return os.getpid()


@stage(timeout=1.0)
def hangs(base: int) -> int:
    time.sleep(60)
    return base


@stage
def after_hang(base: int) -> int:
    return base * 10


@stage(map_over="base_items")
def squared(base_items: int) -> int:
    return base_items * base_items


@stage
def base_items(base: int) -> list[int]:
    return list(range(base))


pipeline = Pipeline.from_module(__name__, fail_fast=False)


@stage
def takes_lock(lock: object) -> str:
    return "never"


unpicklable_value = Pipeline([takes_lock], name="unpicklable_value")


@stage
def unpicklable_output() -> object:
    return threading.Lock()


returns_lock = Pipeline([unpicklable_output], name="returns_lock")
