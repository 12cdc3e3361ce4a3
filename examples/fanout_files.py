"""Fan-out over the files of a folder: one call of ``word_counts`` per file, run concurrently.

``map_over="files"`` makes flowkit call ``word_counts`` once per item of the ``files`` list
(each call with its own retries and timeout); its output is the list of per-file results, in
the order of ``files``. The stages after it see one ordinary list.

Run it:

    flowkit run examples/fanout_files.py:pipeline -i folder=examples/data/notes

or from Python: ``python examples/fanout_files.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from flowkit import Pipeline, stage

WORD = re.compile(r"[a-z']+")
STOP_WORDS = frozenset(
    ("a", "and", "the", "of", "to", "is", "so", "on", "we", "it", "its", "was", "were", "with")
)


@stage
def files(folder: Path, pattern: str = "*.txt") -> list[Path]:
    """The files of ``folder`` matching ``pattern``, sorted by name."""
    return sorted(Path(folder).glob(pattern))


@stage(map_over="files", retries=1, timeout=10)
def word_counts(files: Path) -> dict[str, int]:
    """Count the words of one file (called once per file, concurrently)."""
    words = WORD.findall(files.read_text(encoding="utf-8").lower())
    return dict(Counter(word for word in words if word not in STOP_WORDS))


@stage
def totals(word_counts: list[dict[str, int]]) -> Counter[str]:
    """Add up the per-file counts."""
    total: Counter[str] = Counter()
    for counts in word_counts:
        total.update(counts)
    return total


@stage
def digest(files: list[Path], totals: Counter[str], top: int = 5) -> str:
    """A short text digest: how many files, and the most frequent words."""
    common = ", ".join(f"{word} ({count})" for word, count in totals.most_common(top))
    return f"{len(files)} files; top words: {common}"


pipeline = Pipeline.from_module(__name__, name="fanout_files")

if __name__ == "__main__":
    notes = Path(__file__).parent / "data" / "notes"
    result = pipeline.run({"folder": notes})
    result.raise_on_failure()
    for path, counts in zip(result["files"], result["word_counts"], strict=True):
        print(f"{path.name}: {sum(counts.values())} words")
    print(result["digest"])
