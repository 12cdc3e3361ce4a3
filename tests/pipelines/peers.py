"""Several outputs, a nested pipeline and cached stages, for the CLI."""

from flowkit import Pipeline, stage


@stage(cache=True, outputs=("head", "tail"))
def halves(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


@stage(cache=True)
def doubled(head: int) -> int:
    return head * 2


@stage(cache=True)
def trimmed(raw: int) -> int:
    return raw - 1


inner = Pipeline([trimmed], name="inner")
pipeline = Pipeline([halves, doubled, inner.as_stage("sub", inputs={"raw": "tail"})], name="peers")
