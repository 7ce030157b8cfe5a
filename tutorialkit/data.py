"""Text-classification files (CSV and TSV) and reproducible splits.

:func:`read_text_classification` reads SST-2, IMDB, tweets and files like them (comma,
tab or semicolon, quoted fields over several lines, a header or none) into
:class:`LabeledText` records, or raises
:class:`~tutorialkit.textfiles.DataFormatError` with the file and the line.
:func:`split_dataset` makes a seeded train/validation/test split (optionally
stratified); :func:`sample_and_split` samples first.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tutorialkit.textfiles import (
    BAD_BYTES_POLICIES,
    decode_lines,
    format_error,
)

T = TypeVar("T")


@dataclass
class LabeledText:
    """A text with its class label, plus where it came from.

    ``source`` is ``"path:line"`` of the line where the record starts. ``bad_bytes`` is
    True when the record contained bytes that were not valid in the file's encoding and
    were replaced by U+FFFD (only with ``on_bad_bytes="replace"``). Neither is part of
    equality.

    Example:

    >>> LabeledText("a fine film", "1", source="train.tsv:2")
    LabeledText(text='a fine film', label='1', source='train.tsv:2', bad_bytes=False)
    """

    text: str
    label: str
    source: str = field(default="", compare=False)
    bad_bytes: bool = field(default=False, compare=False)


# One CSV record: (first line, last line, fields). A quoted field may span several
# lines.
_CsvRecord = tuple[int, int, list[str]]


def _guess_delimiter(path: str | Path, lines: list[str]) -> str:
    """Tab for .tsv/.tab, comma for .csv, else what csv.Sniffer sees in the first
    lines."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff("".join(lines[:50]), delimiters=",\t;|").delimiter
    except csv.Error as error:
        raise format_error(
            path,
            None,
            "could not tell the delimiter from the first 50 lines (tried comma, tab, "
            "';' "
            "and '|'): pass delimiter=",
        ) from error


def _csv_records(
    path: str | Path, lines: list[str], delimiter: str
) -> list[_CsvRecord]:
    """Parse lines with the csv module (quotes, embedded newlines); blank lines hold no
    record."""
    records: list[_CsvRecord] = []
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    first_line = 1
    try:
        for fields in reader:
            if fields:
                records.append((first_line, reader.line_num, fields))
            first_line = reader.line_num + 1
    except csv.Error as error:
        raise format_error(
            path,
            first_line,
            f"{error} (csv module) in the record that starts on this line: expected "
            "fields "
            f"separated by {delimiter!r}, a quoted field closed by a quote",
        ) from error
    return records


def _column_index(
    path: str | Path, column: str | int, names: list[str] | None, width: int, line: int
) -> int:
    """Turn a column name or index into an index, checking that it exists."""
    if isinstance(column, int):
        if not 0 <= column < width:
            raise format_error(
                path,
                line,
                f"column index {column} does not exist: the row has {width} fields",
            )
        return column
    if names is None:
        raise ValueError(
            f"column {column!r} is a name, which needs header=True: pass an index"
        )
    if names.count(column) != 1:
        found = "missing" if column not in names else "repeated"
        raise format_error(
            path,
            line,
            f"expected one column named {column!r}, it is {found}; the header has "
            f"columns {names}",
        )
    return names.index(column)


def _check_widths(path: str | Path, records: list[_CsvRecord]) -> None:
    """Raise DataFormatError at the first record with a different number of fields than
    the first.

    Too few fields is a truncated row; too many is usually a delimiter inside an
    unquoted text.
    """
    first_line, _, first_fields = records[0]
    for line, _, fields in records:
        if len(fields) != len(first_fields):
            raise format_error(
                path,
                line,
                f"expected {len(first_fields)} fields like line {first_line}, found "
                f"{len(fields)}: {fields!r} (a delimiter inside a text must be quoted)",
            )


def _labeled_text(
    path: str | Path,
    record: _CsvRecord,
    text_index: int,
    label_index: int,
    labels: Sequence[str] | None,
    replaced: set[int],
) -> LabeledText:
    """Check one CSV record's text and label and turn it into a LabeledText."""
    first_line, last_line, fields = record
    text, label = fields[text_index], fields[label_index].strip()
    if not text.strip():
        raise format_error(path, first_line, "expected a text, found an empty field")
    if not label:
        raise format_error(path, first_line, "expected a label, found an empty field")
    if labels is not None and label not in labels:
        raise format_error(
            path, first_line, f"unknown label {label!r}: expected one of {list(labels)}"
        )
    bad_bytes = any(line in replaced for line in range(first_line, last_line + 1))
    return LabeledText(text, label, source=f"{path}:{first_line}", bad_bytes=bad_bytes)


def read_text_classification(
    path: str | Path,
    *,
    text_column: str | int = "text",
    label_column: str | int = "label",
    delimiter: str | None = None,
    header: bool = True,
    encoding: str = "utf-8",
    on_bad_bytes: str = "error",
    labels: Sequence[str] | None = None,
) -> list[LabeledText]:
    """Read a CSV or TSV text-classification file into texts with string labels.

    Columns are chosen by header name or by index (the only way with ``header=False``).
    ``delimiter=None`` means tab for .tsv/.tab, comma for .csv, else guessed. Quoted
    fields may contain delimiters and newlines; each record's ``source`` is the line
    where it starts. Every row must have as many fields as the first; empty texts and
    labels, and labels outside ``labels`` (when given), are errors. Labels are stripped,
    texts are not.

    Bad bytes: with ``on_bad_bytes="error"`` the first line that is not valid
    ``encoding`` raises DataFormatError; with ``"replace"`` they become U+FFFD and the
    record gets ``bad_bytes=True``, so ``sum(row.bad_bytes for row in rows)`` counts
    damaged rows.

    Usage: ``read_text_classification("train.tsv", text_column="sentence")``.
    """
    if on_bad_bytes not in BAD_BYTES_POLICIES:
        raise ValueError(
            f"unknown on_bad_bytes {on_bad_bytes!r}: "
            f"expected one of {', '.join(BAD_BYTES_POLICIES)}"
        )
    lines, replaced = decode_lines(
        path,
        encoding,
        replace_bad_bytes=on_bad_bytes == "replace",
        advice=", or on_bad_bytes='replace' to replace bad bytes with U+FFFD",
    )
    if not any(line.strip() for line in lines):
        raise format_error(
            path, None, "the file is empty: expected rows of text and label"
        )
    records = _csv_records(path, lines, delimiter or _guess_delimiter(path, lines))
    _check_widths(path, records)
    first_line, _, first_fields = records[0]
    names = [name.strip() for name in first_fields] if header else None
    text_index = _column_index(path, text_column, names, len(first_fields), first_line)
    label_index = _column_index(
        path, label_column, names, len(first_fields), first_line
    )
    rows = records[1:] if header else records
    if not rows:
        raise format_error(path, None, "expected rows after the header, found none")
    return [
        _labeled_text(path, record, text_index, label_index, labels, replaced)
        for record in rows
    ]


def _check_fractions(fractions: Sequence[float]) -> None:
    """Three fractions that add up to 1, train's positive and the others not negative,
    else ValueError.

    A zero test fraction splits into train and validation only (for a corpus with its
    own test split).
    """
    if (
        len(fractions) != 3
        or not fractions[0] > 0
        or any(not fraction >= 0 for fraction in fractions[1:])
    ):
        raise ValueError(
            "expected three fractions (train, validation, test), train positive and "
            "none negative, "
            f"found {tuple(fractions)}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(
            f"expected fractions that add up to 1, found {tuple(fractions)} (sum "
            f"{sum(fractions)})"
        )


def _cut(
    items: list[T], fractions: Sequence[float]
) -> tuple[list[T], list[T], list[T]]:
    """Cut a list into three parts; cumulative rounding keeps each within one item of
    exact."""
    first = round(len(items) * fractions[0])
    second = round(len(items) * (fractions[0] + fractions[1]))
    return items[:first], items[first:second], items[second:]


def split_dataset(
    items: Sequence[T],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    stratify: Callable[[T], Hashable] | None = None,
) -> tuple[list[T], list[T], list[T]]:
    """Shuffle and split items into train, validation and test parts, reproducibly.

    The shuffle uses its own ``random.Random(seed)``, so the same seed gives the same
    split and the global random state is untouched. Every item lands in exactly one
    part. With ``stratify`` (a function giving an item's class) each class is split on
    its own, so the parts keep the class proportions to within one item per class.

    Example (two classes, 10 items each):

    >>> train, validation, test = split_dataset(range(20), stratify=lambda i: i % 2)
    >>> len(train), len(validation), len(test)
    (16, 2, 2)
    >>> sorted(i % 2 for i in test)
    [0, 1]
    """
    _check_fractions(fractions)
    rng = random.Random(seed)
    if stratify is None:
        shuffled = list(items)
        rng.shuffle(shuffled)
        return _cut(shuffled, fractions)
    classes: dict[Hashable, list[T]] = {}
    for item in items:
        classes.setdefault(stratify(item), []).append(item)
    parts: tuple[list[T], list[T], list[T]] = ([], [], [])
    for members in classes.values():
        rng.shuffle(members)
        for part, piece in zip(parts, _cut(members, fractions), strict=True):
            part.extend(piece)
    for part in parts:  # otherwise each part would be sorted by class
        rng.shuffle(part)
    return parts


def sample_and_split(
    items: Sequence[T],
    n: int | None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    stratify: Callable[[T], Hashable] | None = None,
) -> tuple[list[T], list[T], list[T]]:
    """Draw ``n`` items at random, then split them as :func:`split_dataset` does, both
    with ``seed``.

    The draw is ``random.Random(seed).sample(items, n)`` (``n=None``: every item), so
    chapters that call this with the same corpus, ``n``, fractions and seed get
    identical parts: the sentiment chapters compare their models on the same test tweets
    this way (``sample_and_split(load_tweets(), 1000, (0.6, 0.1, 0.3),
    stratify=lambda r: r.label)``).

    Example:

    >>> train, val, test = sample_and_split(range(100), 10, (0.6, 0.1, 0.3), seed=0)
    >>> len(train), len(val), len(test)
    (6, 1, 3)
    """
    items = list(items)
    if n is not None and not 1 <= n <= len(items):
        raise ValueError(
            f"n must be between 1 and the {len(items)} items, or None for all, found "
            f"{n}"
        )
    sample = items if n is None else random.Random(seed).sample(items, n)
    return split_dataset(sample, fractions, seed=seed, stratify=stratify)
