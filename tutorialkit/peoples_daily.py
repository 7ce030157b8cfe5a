"""The People's Daily January 1998 corpus, as character-level entity tags.

The corpus writes words with their part of speech (``word/pos``); a Chinese BERT tags
single characters. :func:`peoples_daily_line_to_bio` turns one line into characters and
BIO tags with PER, LOC and ORG; :func:`read_peoples_daily` reads a file of such lines
into :class:`~tutorialkit.conll.TaggedSentence` records.
"""

from __future__ import annotations

import re
from pathlib import Path

from tutorialkit.conll import TaggedSentence
from tutorialkit.textfiles import (
    decode_lines,
    format_error,
)

# People's Daily part-of-speech tags that mark named entities.
_PEOPLES_DAILY_ENTITIES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


# "word/pos": the POS is letters only, the word is everything before the last "/".
_PEOPLES_DAILY_PIECE = re.compile(r"(?P<word>.+)/(?P<pos>[A-Za-z]+)")


def _split_piece(piece: str, position: int) -> tuple[str, str]:
    """Split a People's Daily piece "word/pos" into (word, pos); ValueError if
    malformed."""
    match = _PEOPLES_DAILY_PIECE.fullmatch(piece)
    if match is None:
        raise ValueError(
            f"piece {position} {piece!r}: expected 'word/pos' with a non-empty word "
            "and a "
            f"part-of-speech made of letters"
        )
    word = match["word"]
    if word.startswith("[") and len(word) > 1:
        raise ValueError(
            f"piece {position} {piece!r} opens a bracketed compound such as "
            "'[中央/n 人民/n 广播/vn 电台/n]nt': expected the flattened corpus without "
            "brackets"
        )
    return word, match["pos"]


COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 司徒 东方 皇甫 令狐 慕容".split()
    + "公孙 尉迟 长孙 宇文 夏侯 端木 澹台 轩辕".split()
)


def _is_surname(word: str) -> bool:
    """A piece that can be the surname half of a two-piece Chinese name."""
    return len(word) == 1 or word in COMPOUND_SURNAMES


def peoples_daily_line_to_bio(line: str) -> tuple[list[str], list[str]]:
    """Convert one People's Daily line to characters and BIO tags (PER, LOC, ORG).

    Pieces are ``word/pos`` separated by spaces. A Chinese BERT tags single characters,
    so each word is split into characters. ``/nr`` is a person, ``/ns`` a place, ``/nt``
    an organisation; other POS give O. The corpus writes a Chinese name as two ``/nr``
    pieces, surname then given name ("江/nr 泽民/nr"), so a surname piece (one
    character, or a compound surname such as 欧阳) followed by an ``/nr`` piece of
    one or two characters makes one person. Any other ``/nr`` piece starts a new
    person: lists of names are written with nothing in between
    ("江/nr 泽民/nr 李/nr 鹏/nr" is two people), and foreign names are one piece.
    Adjacent ``/ns`` or ``/nt`` pieces stay separate entities. A malformed piece raises
    ValueError.

    >>> peoples_daily_line_to_bio("主席/n  江/nr  泽民/nr")
    (['主', '席', '江', '泽', '民'], ['O', 'O', 'B-PER', 'I-PER', 'I-PER'])
    """
    characters: list[str] = []
    tags: list[str] = []
    # the previous piece was an /nr surname waiting for its given name
    surname_open = False
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


def read_peoples_daily(
    path: str | Path, *, limit: int | None = None
) -> list[TaggedSentence]:
    """Read the People's Daily corpus (one sentence per line) as character-level BIO
    NER.

    Blank lines hold no sentence and are passed over; every other line becomes one
    sentence (see :func:`peoples_daily_line_to_bio`). ``limit`` stops after that many
    sentences, for quick experiments.

    Usage: ``read_peoples_daily("199801.txt", limit=1000)``.
    """
    if limit is not None and limit < 1:
        raise ValueError(
            f"limit must be a positive number of sentences or None, found {limit}"
        )
    lines, _ = decode_lines(path, "utf-8")
    sentences: list[TaggedSentence] = []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(sentences) == limit:
            break
        if not line.strip():
            continue
        try:
            characters, tags = peoples_daily_line_to_bio(line)
        except ValueError as error:
            raise format_error(path, number, str(error)) from error
        sentences.append(TaggedSentence(characters, tags, source=f"{path}:{number}"))
    if not sentences:
        raise format_error(
            path,
            None,
            "no sentences found: expected one line of 'word/pos' pieces per sentence",
        )
    return sentences
