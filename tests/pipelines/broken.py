"""A pipeline whose stages depend on each other in a loop."""

from flowkit import Pipeline, stage


@stage
def a(b: int) -> int:
    return b


@stage
def b(a: int) -> int:
    return a


pipeline = Pipeline.from_module(__name__, name="broken")
