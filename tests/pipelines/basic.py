"""A small pipeline with typed inputs, for the CLI tests."""

from flowkit import Pipeline, PipelineBuilder, stage


@stage
def numbers(count: int, scale: float = 1.0) -> list[float]:
    return [i * scale for i in range(count)]


@stage
def total(numbers: list[float]) -> float:
    return sum(numbers)


@stage(retries=2, backoff=0.1, timeout=30, tags=["report"])
def report(total: float, label: str = "sum", loud: bool = False) -> str:
    text = f"{label}={total:g}"
    return text.upper() if loud else text


@stage(when=lambda total: total > 100, depends_on=["report"])
def alert(total: float) -> str:
    return "big"


@stage
def distinct(numbers: list[float]) -> set[float]:
    return set(numbers)  # not JSON: --result-json records only its type


pipeline = Pipeline.from_module(__name__, name="basic")
built = PipelineBuilder("built").stage(numbers).stage(total)
not_a_pipeline = 42
