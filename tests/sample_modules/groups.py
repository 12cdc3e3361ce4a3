"""A sample module with a parallel group built from module-level stages: only the group is a
stage of the pipeline, its children are internal to it."""

from flowkit import ParallelStage, stage


@stage
def left(seed: int) -> int:
    return seed + 1


@stage
def right(seed: int) -> int:
    return seed + 2


both = ParallelStage("both", [left, right])


@stage
def combined(both: dict[str, int]) -> int:
    return both["left"] * both["right"]
