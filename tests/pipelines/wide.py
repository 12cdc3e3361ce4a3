"""Many independent stages, so events come from several worker threads at once."""

import time

from flowkit import PipelineBuilder

WIDTH = 40


def _make(index: int):
    def work(pause: float = 0.002) -> int:
        time.sleep(pause)
        return index

    return work


builder = PipelineBuilder("wide")
for _i in range(WIDTH):
    builder.stage(_make(_i), name=f"s{_i:02d}")
