"""A misspelt dependency (``parsd`` beside the stage ``parsed``) and an unannotated input
whose default says its type."""

from flowkit import Pipeline, stage


@stage
def parsed(raw: str) -> list[str]:
    return raw.split(",")


@stage
def report(parsd: list[str]) -> int:
    return len(parsd)


@stage
def scaled(factor=2):  # type: ignore[no-untyped-def]  # unannotated on purpose
    return f"{type(factor).__name__} {factor * 2}"


pipeline = Pipeline.from_module(__name__, name="lookalike")
