"""A cacheable stage: a second run with the same cache loads it instead of running it."""

from flowkit import Pipeline, stage


@stage(cache=True)
def double(n: int) -> int:
    return n * 2


@stage
def show(double: int) -> str:
    return str(double)


pipeline = Pipeline.from_module(__name__, name="cached")
