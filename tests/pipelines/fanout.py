"""A ``map_over`` stage over five items (for the progress line's item counts)."""

from flowkit import Pipeline, stage


@stage
def urls() -> list[str]:
    return [f"https://example.invalid/{n}" for n in range(5)]


@stage(map_over="urls")
def fetch(urls: str) -> int:
    return len(urls)


pipeline = Pipeline.from_module(__name__, name="fanout")
