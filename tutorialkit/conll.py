"""CoNLL token-per-line files and IOB tags, for named-entity recognition.

:func:`read_conll` reads WNUT-16, CoNLL-2003 and files like them (2 to 4 columns, tabs
or spaces, ``-DOCSTART-`` lines, IOB1 or IOB2 tags) into :class:`TaggedSentence`
records with IOB2 tags; :func:`write_conll` writes them back. :func:`check_iob2`,
:func:`is_valid_iob2` and :func:`iob1_to_iob2` handle the tag schemes. Nothing is
skipped silently: a bad line raises :class:`~tutorialkit.textfiles.DataFormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tutorialkit.textfiles import (
    decode_lines,
    format_error,
)

TAG_SCHEMES = ("iob2", "iob1", "auto")


# A CoNLL line is split into columns at runs of tabs and spaces only: a tweet token may
# contain a non-breaking space, which is not a column separator.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")


_DOCUMENT_SEPARATOR = "-DOCSTART-"


@dataclass
class TaggedSentence:
    """A sentence as tokens with one tag each, plus where it came from.

    ``source`` is ``"path:line"`` of the first token, so that a later error can point at
    the file. It is not part of equality: two sentences with the same tokens and tags
    are equal wherever they were read from.

    Example:

    >>> read = TaggedSentence(["Paris", "is"], ["B-LOC", "O"], source="train.txt:1")
    >>> read == TaggedSentence(["Paris", "is"], ["B-LOC", "O"])
    True
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
            raise ValueError(
                f"{where}: expected at least one token, found an empty sentence"
            )


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

    In IOB1 a chunk starts with I-; B- only separates two adjacent chunks of the same
    type, so a B-X must follow B-X or I-X.
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
    type; in IOB2 every chunk starts with B-. So an I-X that does not continue an X
    chunk becomes B-X. Raises ValueError for a tag that is not O, B-TYPE or I-TYPE.

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


# One token of a CoNLL file: (line number, token, tag).
_ConllToken = tuple[int, str, str]


def _conll_blocks(path: str | Path, lines: Iterable[str]) -> list[list[_ConllToken]]:
    """Group the token lines of a CoNLL file into sentences.

    Blank and whitespace-only lines end a sentence; so does a -DOCSTART- line, which is
    a document separator and not a token. The token is the first column, the tag the
    last.
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
            raise format_error(
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
                raise format_error(
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


def _resolve_scheme(
    path: str | Path, blocks: list[list[_ConllToken]], scheme: str
) -> str:
    """Check the tags against ``scheme`` and return the scheme they are in: iob2 or
    iob1.

    With "auto", IOB2 wins when the tags are valid in both (e.g. a file of only O tags).
    """
    iob2_error = _first_scheme_error(blocks, _first_iob2_error)
    iob1_error = _first_scheme_error(blocks, _first_iob1_error)
    if scheme == "auto":
        if iob2_error is None:
            return "iob2"
        if iob1_error is None:
            return "iob1"
        raise format_error(
            path,
            None,
            "expected IOB2 or IOB1 tags, found neither: as IOB2, line "
            f"{iob2_error[0]}: "
            f"{iob2_error[1]}; as IOB1, line {iob1_error[0]}: {iob1_error[1]}",
        )
    if scheme == "iob2" and iob2_error is not None:
        line, explanation = iob2_error
        hint = (
            ". The file looks like IOB1 (as in the original CoNLL-2003 files, where I- "
            'starts a chunk): pass scheme="iob1" to convert it'
        )
        raise format_error(
            path, line, explanation + (hint if iob1_error is None else "")
        )
    if scheme == "iob1" and iob1_error is not None:
        line, explanation = iob1_error
        hint = '. The file looks like IOB2: pass scheme="iob2"'
        raise format_error(
            path, line, explanation + (hint if iob2_error is None else "")
        )
    return scheme


def read_conll(
    path: str | Path, *, scheme: str = "iob2", encoding: str = "utf-8"
) -> list[TaggedSentence]:
    """Read a CoNLL token-per-line NER file into sentences with IOB2 tags.

    Each line holds a token and its tag separated by tabs or spaces; with more columns
    (CoNLL-2003: token POS chunk NER) the token is the first and the tag the last. Blank
    or whitespace-only lines end a sentence and -DOCSTART- lines separate documents.
    ``scheme`` says how the tags are written: "iob2" (checked strictly), "iob1"
    (checked, then converted to IOB2) or "auto" (IOB2 if valid, else IOB1 converted).

    Usage: ``read_conll("eng.train", scheme="iob1")``.
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(
            f"unknown tag scheme {scheme!r}: expected one of {', '.join(TAG_SCHEMES)}"
        )
    lines, _ = decode_lines(path, encoding)
    blocks = _conll_blocks(path, lines)
    if not blocks:
        raise format_error(
            path,
            None,
            "no sentences found: expected lines 'token<TAB>tag' with a blank line "
            "after each "
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
        return (
            "it contains a space, tab or line break, which separate columns and lines"
        )
    if text == _DOCUMENT_SEPARATOR:
        return "-DOCSTART- would be read back as a document separator"
    return None


def write_conll(sentences: Iterable[TaggedSentence], path: str | Path) -> None:
    """Write sentences as UTF-8 ``token<TAB>tag`` lines, a blank line after each
    sentence.

    Everything is checked before the file is opened, so a bad token leaves no
    half-written file. ``read_conll`` reads the file back into equal sentences.

    Usage: ``write_conll(read_conll("train.txt"), "copy.txt")``.
    """
    sentences = list(sentences)
    for index, sentence in enumerate(sentences):
        for text in [*sentence.tokens, *sentence.tags]:
            problem = _conll_field_problem(text)
            if problem is not None:
                where = sentence.source or f"sentence {index}"
                raise ValueError(
                    f"{where}: cannot write {text!r} in CoNLL format: {problem}"
                )
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        for sentence in sentences:
            for token, tag in zip(sentence.tokens, sentence.tags, strict=True):
                file.write(f"{token}\t{tag}\n")
            file.write("\n")
