"""Converting ``-i`` text and ``--inputs`` file values to the annotated types (in-process: pure
functions; the subprocess tests in test_cli_run.py check the same through the CLI)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from flowkit.cli._inputs import from_data, from_text, type_label


class Colour(enum.Enum):
    RED = "r"
    BLUE = "b"


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("42", int, 42),
        (" -7 ", int, -7),
        ("0.25", float, 0.25),
        ("3", float, 3.0),
        ("Yes", bool, True),
        ("0", bool, False),
        ("a/b.txt", Path, Path("a/b.txt")),
        ("plain", str, "plain"),
        ("plain", None, "plain"),
        ("plain", Any, "plain"),
        ("[1, 2]", list[int], [1, 2]),
        ("[1, 2]", list, [1, 2]),
        ("[1, 2]", tuple[int, ...], (1, 2)),
        ('[1, "a"]', tuple[int, str], (1, "a")),
        ("[1, 1, 2]", set[int], {1, 2}),
        ("[1, 2]", Sequence[int], [1, 2]),
        ('{"a": 1.5}', dict[str, float], {"a": 1.5}),
        ('{"a": 1}', dict[str, float], {"a": 1.0}),
        ('{"1": "x"}', dict[int, str], {1: "x"}),
        ('{"a": [1]}', Mapping[str, list[int]], {"a": [1]}),
        ('{"p": "x"}', dict[str, Path], {"p": Path("x")}),
        ("none", int | None, None),
        ("NULL", int | None, None),
        ("5", int | None, 5),
        ("5", int | str, 5),
        ("five", int | str, "five"),
        ("slow", Literal["fast", "slow"], "slow"),
        ("RED", Colour, Colour.RED),
        ("b", Colour, Colour.BLUE),
        ("2026-01-02", dt.date, dt.date(2026, 1, 2)),
        ("2026-01-02T03:04:05", dt.datetime, dt.datetime(2026, 1, 2, 3, 4, 5)),
        ("7", Annotated[int, "meta"], 7),
    ],
)
def test_text_converts_to_the_annotation(text: str, annotation: Any, expected: Any) -> None:
    converted = from_text(text, annotation)

    assert (converted, type(converted)) == (expected, type(expected))


@pytest.mark.parametrize(
    ("text", "annotation"),
    [
        ("4.5", int),
        ("", int),
        ("abc", float),
        ("maybe", bool),
        ("", bool),
        ("1,2", list[int]),
        ('["a"]', list[int]),
        ("[true]", list[int]),
        ("[1]", dict[str, int]),
        ("{}", list[int]),
        ("[1, 2]", tuple[int, str]),
        ("medium", Literal["fast", "slow"]),
        ("GREEN", Colour),
        ("yesterday", dt.date),
        ("x", int | float),
    ],
)
def test_text_that_does_not_fit_raises_value_error(text: str, annotation: Any) -> None:
    with pytest.raises(ValueError):
        from_text(text, annotation)


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (3, int, 3),
        (3, float, 3.0),
        ("3", int, 3),  # text in a file converts as on the command line
        ("yes", bool, True),
        ("out/x", Path, Path("out/x")),
        ([1, 2], list[int], [1, 2]),
        ({"a": 1}, dict[str, int], {"a": 1}),
        (None, int | None, None),
        ({"anything": [1]}, None, {"anything": [1]}),
    ],
)
def test_file_values_are_checked_and_lightly_converted(
    value: object, annotation: Any, expected: Any
) -> None:
    assert from_data(value, annotation) == expected


@pytest.mark.parametrize(
    ("value", "annotation"),
    [(True, int), (1.5, int), (1, str), ([1], dict[str, int]), ("x", list[int]), (1, bool)],
)
def test_file_values_that_do_not_fit_raise_value_error(value: object, annotation: Any) -> None:
    with pytest.raises(ValueError):
        from_data(value, annotation)


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        (int, "int"),
        (None, "str"),
        (Path, "Path"),
        (list[int], "list[int]"),
        (dict[str, Path], "dict[str, Path]"),
        (int | None, "int | None"),
    ],
)
def test_type_labels_read_like_the_annotation(annotation: Any, label: str) -> None:
    assert type_label(annotation) == label
