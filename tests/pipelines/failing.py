"""A stage that fails after a retry. ``after`` needs it (cancelled); ``late`` does not (it
runs only with --no-fail-fast when stages run in order)."""

from flowkit import Pipeline, stage


@stage
def good() -> int:
    return 1


@stage(retries=1)
def bad(good: int) -> int:
    raise ValueError("the data is bad")


@stage
def after(bad: int) -> int:
    return bad + 1


@stage
def late(good: int) -> int:
    return good + 1


pipeline = Pipeline.from_module(__name__, name="failing")
