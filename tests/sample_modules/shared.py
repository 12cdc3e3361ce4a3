"""Stages that other sample modules import (they must not become part of those modules)."""

from flowkit import ParallelStage, stage


@stage
def shared_total(clean_orders: list[int]) -> int:
    return sum(clean_orders)


@stage
def shared_left() -> int:
    return 1


@stage
def shared_right() -> int:
    return 2


shared_group = ParallelStage("shared_group", [shared_left, shared_right])
