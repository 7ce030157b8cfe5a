"""Reading, writing and splitting the corpora used in the book.

Three kinds of files appear in the chapters, each in the shape it has in the wild:

* **CoNLL** token-per-line files for named-entity recognition (WNUT-16, CoNLL-2003),
  read into :class:`TaggedSentence` records with IOB2 tags;
* the **People's Daily** January 1998 corpus (``word/pos`` pieces), turned into
  character-level BIO tags with PER, LOC and ORG for a Chinese BERT;
* **CSV / TSV** text-classification files (SST-2, IMDB, tweets), read into
  :class:`LabeledText` records.

Every reader either returns all the data or raises :class:`DataFormatError` with the
file, the line, what was expected and what was found: nothing is skipped silently.
Files are read as bytes and decoded one line at a time, so that a byte that is not valid
in the expected encoding is reported with its line number. Line numbers count ``\\n``
characters, as ``grep -n`` and ``sed -n`` do, and start at 1.

:func:`split_dataset` makes a reproducible train/validation/test split.
"""

from __future__ import annotations

import codecs
import csv
import math
import random
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

TAG_SCHEMES = ("iob2", "iob1", "auto")
BAD_BYTES_POLICIES = ("error", "replace")

# A CoNLL line is split into columns at runs of tabs and spaces only: a tweet token may
# contain a non-breaking space, which is not a column separator.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_DOCUMENT_SEPARATOR = "-DOCSTART-"

# People's Daily part-of-speech tags that mark named entities.
_PEOPLES_DAILY_ENTITIES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
# "word/pos": the POS is letters only, the word is everything before the last "/".
_PEOPLES_DAILY_PIECE = re.compile(r"(?P<word>.+)/(?P<pos>[A-Za-z]+)")


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    The message starts with ``"path:line: "`` (line counted from 1) when the line is known,
    else with ``"path: "``, then says what was expected and what was found.
    """


def _format_error(path: str | Path, line: int | None, problem: str) -> DataFormatError:
    """Build a DataFormatError whose message starts with "path:line: " (or "path: ")."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DataFormatError(f"{where}: {problem}")


@dataclass
class TaggedSentence:
    """A sentence as tokens with one tag each, plus where it came from.

    ``source`` is ``"path:line"`` of the first token, so that a later error can point at
    the file. It is not part of equality: two sentences with the same tokens and tags are
    equal wherever they were read from.

    Example: ``TaggedSentence(["Paris", "is"], ["B-LOC", "O"], source="train.txt:1")``
    """

    tokens: list[str]
    tags: list[str]
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = self.source or "<no source>"
        if len(self.tokens) != len(self.tags):
            raise ValueError(
                f"{where}: expected one tag per token, found {len(self.tokens)} tokens "
                f"and {len(self.tags)} tags"
            )
        if not self.tokens:
            raise ValueError(f"{where}: expected at least one token, found an empty sentence")


@dataclass
class LabeledText:
    """A text with its class label, plus where it came from.

    ``source`` is ``"path:line"`` of the line where the record starts. ``bad_bytes`` is True
    when the record contained bytes that were not valid in the file's encoding and were
    replaced by U+FFFD (only with ``on_bad_bytes="replace"``). Neither is part of equality.

    Example: ``LabeledText("a gorgeous film", "1", source="train.tsv:2")``
    """

    text: str
    label: str
    source: str = field(default="", compare=False)
    bad_bytes: bool = field(default=False, compare=False)


# ---------------------------------------------------------------------------------------
# Decoding files line by line
# ---------------------------------------------------------------------------------------


def _check_ascii_compatible(encoding: str) -> None:
    """Refuse encodings such as UTF-16 in which a newline is not the single byte b"\\n"."""
    encoder = codecs.getincrementalencoder(encoding)()
    encoder.encode("a")  # past the start, where utf-8-sig writes its byte order mark
    if encoder.encode("\n") != b"\n":
        raise ValueError(
            f"encoding {encoding!r} is not supported: the readers split lines at the byte "
            f"b'\\n', so the encoding must be ASCII-compatible (utf-8, latin-1, gbk, ...); "
            f"convert the file to UTF-8 first, e.g. iconv -f {encoding} -t utf-8"
        )


def _decode_lines(
    path: str | Path, encoding: str, *, replace_bad_bytes: bool = False, advice: str = ""
) -> tuple[list[str], set[int]]:
    """Read a file and decode it one line at a time, keeping the line endings.

    Returns the lines and the numbers of the lines whose bad bytes were replaced by U+FFFD.
    Without ``replace_bad_bytes`` the first bad line raises DataFormatError, which ends
    with ``advice``. A UTF-8 byte order mark at the start of the file is removed.
    """
    _check_ascii_compatible(encoding)
    lines: list[str] = []
    replaced: set[int] = set()
    with open(path, "rb") as file:
        for number, raw_line in enumerate(file, start=1):
            try:
                lines.append(raw_line.decode(encoding))
            except UnicodeDecodeError as error:
                if not replace_bad_bytes:
                    raise _bad_bytes_error(path, number, encoding, error, advice) from error
                lines.append(raw_line.decode(encoding, errors="replace"))
                replaced.add(number)
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines, replaced


def _bad_bytes_error(
    path: str | Path, line: int, encoding: str, error: UnicodeDecodeError, advice: str
) -> DataFormatError:
    """Describe a byte that is not valid in the expected encoding."""
    bad = error.object[error.start : error.end]
    return _format_error(
        path,
        line,
        f"expected {encoding} text, found {bad!r} (byte {error.start + 1} of the line), "
        f"which is not valid {encoding}: if the file uses another encoding, pass it with "
        f"encoding= (for example encoding='latin-1'){advice}",
    )


# ---------------------------------------------------------------------------------------
# IOB tags
# ---------------------------------------------------------------------------------------


def _is_valid_tag(tag: str) -> bool:
    """True for "O", "B-TYPE" and "I-TYPE" (TYPE not empty; it may contain "-")."""
    return tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)


def _entity_type(tag: str) -> str:
    """The TYPE of "B-TYPE" or "I-TYPE"; "" for "O"."""
    return tag[2:]


def _continues(tag: str, previous: str) -> bool:
    """True when ``previous`` belongs to a chunk of the same type as ``tag``."""
    return previous != "O" and _entity_type(previous) == _entity_type(tag)


def _invalid_tag_message(tag: str) -> str:
    """What is wrong with a tag that is not O, B-TYPE or I-TYPE."""
    return f"tag {tag!r} is not valid: expected 'O', 'B-TYPE' or 'I-TYPE'"


def _first_iob2_error(tags: Sequence[str]) -> tuple[int, str] | None:
    """Position and explanation of the first tag that breaks IOB2, or None."""
    previous = "O"
    for position, tag in enumerate(tags):
        if not _is_valid_tag(tag):
            return position, _invalid_tag_message(tag)
        if tag.startswith("I-") and not _continues(tag, previous):
            kind = _entity_type(tag)
            return position, (
                f"{tag!r} follows {previous!r}: in IOB2 an I-{kind} must follow "
                f"B-{kind} or I-{kind}"
            )
        previous = tag
    return None


def _first_iob1_error(tags: Sequence[str]) -> tuple[int, str] | None:
    """Position and explanation of the first tag that breaks IOB1, or None.

    In IOB1 a chunk starts with I-; B- only separates two adjacent chunks of the same type,
    so a B-X must follow B-X or I-X.
    """
    previous = "O"
    for position, tag in enumerate(tags):
        if not _is_valid_tag(tag):
            return position, _invalid_tag_message(tag)
        if tag.startswith("B-") and not _continues(tag, previous):
            kind = _entity_type(tag)
            return position, (
                f"{tag!r} follows {previous!r}: in IOB1 a B-{kind} only separates two "
                f"adjacent {kind} chunks, so it must follow B-{kind} or I-{kind}"
            )
        previous = tag
    return None


def check_iob2(tags: Sequence[str]) -> None:
    """Raise ValueError, with the position, at the first tag that breaks IOB2.

    IOB2 tags are "O", "B-TYPE" (first token of a chunk) and "I-TYPE" (inside a chunk,
    after B-TYPE or I-TYPE). Training on broken tags teaches the model the wrong task.

    >>> check_iob2(["B-PER", "I-PER", "O"])
    """
    error = _first_iob2_error(tags)
    if error is not None:
        position, explanation = error
        raise ValueError(f"position {position}: {explanation}")


def is_valid_iob2(tags: Sequence[str]) -> bool:
    """True when the tags follow IOB2 (see :func:`check_iob2`).

    >>> is_valid_iob2(["O", "I-PER"])
    False
    """
    return _first_iob2_error(tags) is None


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert IOB1 tags (the original CoNLL-2003 files) to IOB2.

    In IOB1 a chunk starts with I- and B- only separates two adjacent chunks of the same
    type; in IOB2 every chunk starts with B-. So an I-X that does not continue an X chunk
    becomes B-X. Raises ValueError for a tag that is not O, B-TYPE or I-TYPE.

    >>> iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"])
    ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC']
    """
    converted: list[str] = []
    previous = "O"
    for position, tag in enumerate(tags):
        if not _is_valid_tag(tag):
            raise ValueError(f"position {position}: {_invalid_tag_message(tag)}")
        if tag.startswith("I-") and not _continues(tag, previous):
            tag = "B-" + _entity_type(tag)
        converted.append(tag)
        previous = tag
    return converted


# ---------------------------------------------------------------------------------------
# CoNLL files
# ---------------------------------------------------------------------------------------

# One token of a CoNLL file: (line number, token, tag).
_ConllToken = tuple[int, str, str]


def _conll_blocks(path: str | Path, lines: Iterable[str]) -> list[list[_ConllToken]]:
    """Group the token lines of a CoNLL file into sentences.

    Blank and whitespace-only lines end a sentence; so does a -DOCSTART- line, which is a
    document separator and not a token. The token is the first column, the tag the last.
    """
    blocks: list[list[_ConllToken]] = []
    current: list[_ConllToken] = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        columns = _COLUMN_SEPARATOR.split(line.strip(" \t"))
        if not line.strip() or columns[0] == _DOCUMENT_SEPARATOR:
            if current:
                blocks.append(current)
            current = []
            continue
        if len(columns) < 2:
            raise _format_error(
                path,
                number,
                f"expected a token and a tag separated by a tab or spaces, "
                f"found one column: {line!r}",
            )
        current.append((number, columns[0], columns[-1]))
    if current:
        blocks.append(current)
    return blocks


def _check_tag_shapes(path: str | Path, blocks: list[list[_ConllToken]]) -> None:
    """Raise DataFormatError at the first tag that is not O, B-TYPE or I-TYPE."""
    for block in blocks:
        for number, _, tag in block:
            if not _is_valid_tag(tag):
                raise _format_error(
                    path, number, _invalid_tag_message(tag) + " (IOB1 or IOB2 tags)"
                )


def _first_scheme_error(
    blocks: list[list[_ConllToken]],
    first_error: Callable[[Sequence[str]], tuple[int, str] | None],
) -> tuple[int, str] | None:
    """File line and explanation of the first tag that breaks a scheme, or None."""
    for block in blocks:
        error = first_error([tag for _, _, tag in block])
        if error is not None:
            position, explanation = error
            return block[position][0], explanation
    return None


def _resolve_scheme(path: str | Path, blocks: list[list[_ConllToken]], scheme: str) -> str:
    """Check the tags against ``scheme`` and return the scheme they are in: iob2 or iob1.

    With "auto", IOB2 wins when the tags are valid in both (e.g. a file of only O tags).
    """
    iob2_error = _first_scheme_error(blocks, _first_iob2_error)
    iob1_error = _first_scheme_error(blocks, _first_iob1_error)
    if scheme == "auto":
        if iob2_error is None:
            return "iob2"
        if iob1_error is None:
            return "iob1"
        raise _format_error(
            path,
            None,
            f"expected IOB2 or IOB1 tags, found neither: as IOB2, line {iob2_error[0]}: "
            f"{iob2_error[1]}; as IOB1, line {iob1_error[0]}: {iob1_error[1]}",
        )
    if scheme == "iob2" and iob2_error is not None:
        line, explanation = iob2_error
        hint = (
            ". The file looks like IOB1 (as in the original CoNLL-2003 files, where I- "
            'starts a chunk): pass scheme="iob1" to convert it'
        )
        raise _format_error(path, line, explanation + (hint if iob1_error is None else ""))
    if scheme == "iob1" and iob1_error is not None:
        line, explanation = iob1_error
        hint = '. The file looks like IOB2: pass scheme="iob2"'
        raise _format_error(path, line, explanation + (hint if iob2_error is None else ""))
    return scheme


def read_conll(
    path: str | Path, *, scheme: str = "iob2", encoding: str = "utf-8"
) -> list[TaggedSentence]:
    """Read a CoNLL token-per-line NER file into sentences with IOB2 tags.

    Each line holds a token and its tag separated by tabs or spaces; with more columns
    (CoNLL-2003: token POS chunk NER) the token is the first and the tag the last. Blank
    or whitespace-only lines end a sentence and -DOCSTART- lines separate documents.
    ``scheme`` says how the tags are written: "iob2" (checked strictly), "iob1" (checked,
    then converted to IOB2) or "auto" (IOB2 if valid, else IOB1 converted).

    Example: ``read_conll("eng.train", scheme="iob1")``
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}: expected one of {', '.join(TAG_SCHEMES)}")
    lines, _ = _decode_lines(path, encoding)
    blocks = _conll_blocks(path, lines)
    if not blocks:
        raise _format_error(
            path,
            None,
            "no sentences found: expected lines 'token<TAB>tag' with a blank line after each "
            "sentence, found an empty file or only blank and -DOCSTART- lines",
        )
    _check_tag_shapes(path, blocks)
    file_scheme = _resolve_scheme(path, blocks, scheme)
    sentences = []
    for block in blocks:
        tokens = [token for _, token, _ in block]
        tags = [tag for _, _, tag in block]
        if file_scheme == "iob1":
            tags = iob1_to_iob2(tags)
        sentences.append(TaggedSentence(tokens, tags, source=f"{path}:{block[0][0]}"))
    return sentences


def _conll_field_problem(text: str) -> str | None:
    """Why ``text`` cannot be a token or tag column of a CoNLL file, or None."""
    if not text.strip():
        return "it is empty or only whitespace"
    if any(character in text for character in " \t\r\n"):
        return "it contains a space, tab or line break, which separate columns and lines"
    if text == _DOCUMENT_SEPARATOR:
        return "-DOCSTART- would be read back as a document separator"
    return None


def write_conll(sentences: Iterable[TaggedSentence], path: str | Path) -> None:
    """Write sentences as UTF-8 ``token<TAB>tag`` lines, a blank line after each sentence.

    Everything is checked before the file is opened, so a bad token leaves no half-written
    file. ``read_conll`` reads the file back into equal sentences.

    Example: ``write_conll(read_conll("train.txt"), "copy.txt")``
    """
    sentences = list(sentences)
    for index, sentence in enumerate(sentences):
        for text in [*sentence.tokens, *sentence.tags]:
            problem = _conll_field_problem(text)
            if problem is not None:
                where = sentence.source or f"sentence {index}"
                raise ValueError(f"{where}: cannot write {text!r} in CoNLL format: {problem}")
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        for sentence in sentences:
            for token, tag in zip(sentence.tokens, sentence.tags, strict=True):
                file.write(f"{token}\t{tag}\n")
            file.write("\n")


# ---------------------------------------------------------------------------------------
# People's Daily, January 1998
# ---------------------------------------------------------------------------------------


def _split_piece(piece: str, position: int) -> tuple[str, str]:
    """Split a People's Daily piece "word/pos" into (word, pos); ValueError if malformed."""
    match = _PEOPLES_DAILY_PIECE.fullmatch(piece)
    if match is None:
        raise ValueError(
            f"piece {position} {piece!r}: expected 'word/pos' with a non-empty word and a "
            f"part-of-speech made of letters"
        )
    word = match["word"]
    if word.startswith("[") and len(word) > 1:
        raise ValueError(
            f"piece {position} {piece!r} opens a bracketed compound such as "
            f"'[中央/n 人民/n 广播/vn 电台/n]nt': expected the flattened corpus without brackets"
        )
    return word, match["pos"]


COMPOUND_SURNAMES = frozenset("欧阳 司马 诸葛 上官 司徒 东方 皇甫 令狐 慕容 公孙 尉迟 长孙 宇文 夏侯 端木 澹台 轩辕".split())


def _is_surname(word: str) -> bool:
    """A piece that can be the surname half of a two-piece Chinese name."""
    return len(word) == 1 or word in COMPOUND_SURNAMES


def peoples_daily_line_to_bio(line: str) -> tuple[list[str], list[str]]:
    """Convert one People's Daily line to characters and BIO tags (PER, LOC, ORG).

    Pieces are ``word/pos`` separated by spaces. A Chinese BERT tags single characters,
    so each word is split into characters. ``/nr`` is a person, ``/ns`` a place, ``/nt``
    an organisation; other POS give O. The corpus writes a Chinese name as two ``/nr`` pieces,
    surname then given name ("江/nr 泽民/nr"), so a surname piece (one character, or a compound
    surname such as 欧阳) followed by an ``/nr`` piece of one or two characters makes one person.
    Any other ``/nr`` piece starts a new person: lists of names are written with nothing in
    between ("江/nr 泽民/nr 李/nr 鹏/nr" is two people), and foreign names are one piece.
    Adjacent ``/ns`` or ``/nt`` pieces stay separate entities. A malformed piece raises ValueError.

    >>> peoples_daily_line_to_bio("主席/n  江/nr  泽民/nr")
    (['主', '席', '江', '泽', '民'], ['O', 'O', 'B-PER', 'I-PER', 'I-PER'])
    """
    characters: list[str] = []
    tags: list[str] = []
    surname_open = False  # the previous piece was an /nr surname waiting for its given name
    for position, piece in enumerate(line.split()):
        word, pos = _split_piece(piece, position)
        entity = _PEOPLES_DAILY_ENTITIES.get(pos)
        continues_person = pos == "nr" and surname_open and len(word) <= 2
        surname_open = pos == "nr" and not continues_person and _is_surname(word)
        for index, character in enumerate(word):
            characters.append(character)
            if entity is None:
                tags.append("O")
            elif index == 0 and not continues_person:
                tags.append(f"B-{entity}")
            else:
                tags.append(f"I-{entity}")
    return characters, tags


def read_peoples_daily(path: str | Path, *, limit: int | None = None) -> list[TaggedSentence]:
    """Read the People's Daily corpus (one sentence per line) as character-level BIO NER.

    Blank lines hold no sentence and are passed over; every other line becomes one
    sentence (see :func:`peoples_daily_line_to_bio`). ``limit`` stops after that many
    sentences, for quick experiments.

    Example: ``read_peoples_daily("199801.txt", limit=1000)``
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of sentences or None, found {limit}")
    lines, _ = _decode_lines(path, "utf-8")
    sentences: list[TaggedSentence] = []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(sentences) == limit:
            break
        if not line.strip():
            continue
        try:
            characters, tags = peoples_daily_line_to_bio(line)
        except ValueError as error:
            raise _format_error(path, number, str(error)) from error
        sentences.append(TaggedSentence(characters, tags, source=f"{path}:{number}"))
    if not sentences:
        raise _format_error(
            path, None, "no sentences found: expected one line of 'word/pos' pieces per sentence"
        )
    return sentences


# ---------------------------------------------------------------------------------------
# Text classification: CSV and TSV
# ---------------------------------------------------------------------------------------

# One CSV record: (first line, last line, fields). A quoted field may span several lines.
_CsvRecord = tuple[int, int, list[str]]


def _guess_delimiter(path: str | Path, lines: list[str]) -> str:
    """Tab for .tsv/.tab, comma for .csv, else what csv.Sniffer sees in the first lines."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff("".join(lines[:50]), delimiters=",\t;|").delimiter
    except csv.Error as error:
        raise _format_error(
            path,
            None,
            "could not tell the delimiter from the first 50 lines (tried comma, tab, ';' "
            "and '|'): pass delimiter=",
        ) from error


def _csv_records(path: str | Path, lines: list[str], delimiter: str) -> list[_CsvRecord]:
    """Parse lines with the csv module (quotes, embedded newlines); blank lines hold no record."""
    records: list[_CsvRecord] = []
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    first_line = 1
    try:
        for fields in reader:
            if fields:
                records.append((first_line, reader.line_num, fields))
            first_line = reader.line_num + 1
    except csv.Error as error:
        raise _format_error(
            path,
            first_line,
            f"{error} (csv module) in the record that starts on this line: expected fields "
            f"separated by {delimiter!r}, a quoted field closed by a quote",
        ) from error
    return records


def _column_index(
    path: str | Path, column: str | int, names: list[str] | None, width: int, line: int
) -> int:
    """Turn a column name or index into an index, checking that it exists."""
    if isinstance(column, int):
        if not 0 <= column < width:
            raise _format_error(
                path, line, f"column index {column} does not exist: the row has {width} fields"
            )
        return column
    if names is None:
        raise ValueError(f"column {column!r} is a name, which needs header=True: pass an index")
    if names.count(column) != 1:
        found = "missing" if column not in names else "repeated"
        raise _format_error(
            path,
            line,
            f"expected one column named {column!r}, it is {found}; the header has columns {names}",
        )
    return names.index(column)


def _check_widths(path: str | Path, records: list[_CsvRecord]) -> None:
    """Raise DataFormatError at the first record with a different number of fields than the first.

    Too few fields is a truncated row; too many is usually a delimiter inside an unquoted text.
    """
    first_line, _, first_fields = records[0]
    for line, _, fields in records:
        if len(fields) != len(first_fields):
            raise _format_error(
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
        raise _format_error(path, first_line, "expected a text, found an empty field")
    if not label:
        raise _format_error(path, first_line, "expected a label, found an empty field")
    if labels is not None and label not in labels:
        raise _format_error(
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
    ``delimiter=None`` means tab for .tsv/.tab, comma for .csv, else guessed. Quoted fields
    may contain delimiters and newlines; each record's ``source`` is the line where it
    starts. Every row must have as many fields as the first; empty texts and labels, and
    labels outside ``labels`` (when given), are errors. Labels are stripped, texts are not.

    Bad bytes: with ``on_bad_bytes="error"`` the first line that is not valid ``encoding``
    raises DataFormatError; with ``"replace"`` they become U+FFFD and the record gets
    ``bad_bytes=True``, so ``sum(row.bad_bytes for row in rows)`` counts damaged rows.

    Example: ``read_text_classification("train.tsv", text_column="sentence")``
    """
    if on_bad_bytes not in BAD_BYTES_POLICIES:
        raise ValueError(
            f"unknown on_bad_bytes {on_bad_bytes!r}: "
            f"expected one of {', '.join(BAD_BYTES_POLICIES)}"
        )
    lines, replaced = _decode_lines(
        path,
        encoding,
        replace_bad_bytes=on_bad_bytes == "replace",
        advice=", or on_bad_bytes='replace' to replace bad bytes with U+FFFD",
    )
    if not any(line.strip() for line in lines):
        raise _format_error(path, None, "the file is empty: expected rows of text and label")
    records = _csv_records(path, lines, delimiter or _guess_delimiter(path, lines))
    _check_widths(path, records)
    first_line, _, first_fields = records[0]
    names = [name.strip() for name in first_fields] if header else None
    text_index = _column_index(path, text_column, names, len(first_fields), first_line)
    label_index = _column_index(path, label_column, names, len(first_fields), first_line)
    rows = records[1:] if header else records
    if not rows:
        raise _format_error(path, None, "expected rows after the header, found none")
    return [
        _labeled_text(path, record, text_index, label_index, labels, replaced) for record in rows
    ]


# ---------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------


def _check_fractions(fractions: Sequence[float]) -> None:
    """Three fractions that add up to 1, train's positive and the others not negative, else ValueError.

    A zero test fraction splits into train and validation only (for a corpus with its own test split).
    """
    if len(fractions) != 3 or not fractions[0] > 0 or any(not fraction >= 0 for fraction in fractions[1:]):
        raise ValueError(
            f"expected three fractions (train, validation, test), train positive and none negative, "
            f"found {tuple(fractions)}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(
            f"expected fractions that add up to 1, found {tuple(fractions)} (sum {sum(fractions)})"
        )


def _cut(items: list[T], fractions: Sequence[float]) -> tuple[list[T], list[T], list[T]]:
    """Cut a list into three parts; cumulative rounding keeps each within one item of exact."""
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

    The shuffle uses its own ``random.Random(seed)``, so the same seed gives the same split
    and the global random state is untouched. Every item lands in exactly one part. With
    ``stratify`` (a function giving an item's class) each class is split on its own, so the
    parts keep the class proportions to within one item per class.

    Example: ``train, validation, test = split_dataset(rows, seed=0, stratify=lambda r: r.label)``
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
    """Draw ``n`` items at random, then split them as :func:`split_dataset` does, both with ``seed``.

    The draw is ``random.Random(seed).sample(items, n)`` (``n=None``: every item), so chapters
    that call this with the same corpus, ``n``, fractions and seed get identical parts: the
    sentiment chapters compare their models on the same test tweets this way.
    Example: ``train, val, test = sample_and_split(load_tweets(), 1000, (0.6, 0.1, 0.3), seed=0,
    stratify=lambda r: r.label)``
    """
    items = list(items)
    if n is not None and not 1 <= n <= len(items):
        raise ValueError(f"n must be between 1 and the {len(items)} items, or None for all, found {n}")
    sample = items if n is None else random.Random(seed).sample(items, n)
    return split_dataset(sample, fractions, seed=seed, stratify=stratify)


class LengthGroupedBatches:
    """Batches of indices of examples of similar length, in a new random order every epoch.

    A DataLoader pads each batch to its longest example, so random batches of short texts with a
    few long ones are mostly padding. Each epoch this shuffles the indices, cuts them into groups
    of ``group`` batches, sorts each group by length, cuts it into batches and shuffles the
    batches: every index appears once per epoch, and a batch holds texts of similar length.
    The shuffles use torch's global generator, so ``seed_everything`` (which ``train`` calls)
    fixes the order. (transformers 4 had this as ``TrainingArguments(group_by_length=True)``.)
    Example: ``DataLoader(data, batch_sampler=LengthGroupedBatches(lengths, 16), collate_fn=collate)``
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, group: int = 8) -> None:
        if batch_size < 1 or group < 1:
            raise ValueError(f"batch_size and group must be >= 1, found {batch_size} and {group}")
        if not lengths:
            raise ValueError("expected the lengths of at least one example, found none")
        self.lengths, self.batch_size, self.group = list(lengths), batch_size, group

    def __len__(self) -> int:
        """Batches per epoch (the last batch of each group may be smaller)."""
        span = self.batch_size * self.group
        full, rest = divmod(len(self.lengths), span)
        return full * self.group + math.ceil(rest / self.batch_size)

    def __iter__(self):
        import torch

        order = torch.randperm(len(self.lengths)).tolist()
        span = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), span):
            group = sorted(order[start : start + span], key=lambda i: self.lengths[i])
            batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        for b in torch.randperm(len(batches)).tolist():
            yield batches[b]
