"""tutorialkit.ner: label maps, word-piece alignment, windows, predictions, Hub data."""

import random
from types import SimpleNamespace

import pytest
import torch
from transformers import DataCollatorForTokenClassification

from tutorialkit.conll import TaggedSentence
from tutorialkit.ner import (
    IGNORE_INDEX,
    Window,
    align_labels,
    encode_sentences,
    hub_to_sentences,
    label_maps,
    merge_windows,
    piece_counts,
    plan_windows,
    predict_tags,
    predict_windows,
    tag_ids,
)
from tutorialkit.resources import load_hub_dataset

SENTENCE = TaggedSentence(
    ["Tokenization", "of", "Gdańsk", "works"], ["O", "O", "B-LOC", "O"], source="test:1"
)
LABEL2ID = {"O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}


class PieceTagger(torch.nn.Module):
    """A context-free stand-in for a token classifier: the logits of a piece depend on
    its id only.

    Without context, predicting a word in a window or in the whole sentence must give
    the same answer, which is what the window tests need.
    """

    def __init__(self, n_labels: int = 5):
        super().__init__()
        self.config = SimpleNamespace(num_labels=n_labels, max_position_embeddings=512)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, input_ids, attention_mask=None, **_):
        assert attention_mask is not None and attention_mask.shape == input_ids.shape
        n = self.config.num_labels
        logits = torch.nn.functional.one_hot(input_ids % n, n).float() * 3 * self.scale
        return SimpleNamespace(logits=logits)


def test_label_maps_order_and_inverse():
    label2id, id2label = label_maps([["B-PER", "I-PER", "O"], ["B-LOC"], ["O"]])
    # I-LOC although never seen
    assert list(label2id) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert id2label == {i: label for label, i in label2id.items()}
    # only the types matter
    assert label_maps([["B-LOC"], ["B-PER"]]) == label_maps([["B-PER"], ["I-LOC"]])
    assert label_maps([SENTENCE])[0] == {"O": 0, "B-LOC": 1, "I-LOC": 2}


def test_label_maps_bad_input():
    with pytest.raises(ValueError, match="test:1: tag 'PER' at word 0"):
        label_maps([TaggedSentence(["x"], ["PER"], source="test:1")])
    with pytest.raises(ValueError, match="at least one sentence"):
        label_maps([])


def test_tag_ids_and_unknown_tags():
    assert tag_ids(SENTENCE, LABEL2ID) == [0, 0, 1, 0]
    with pytest.raises(
        KeyError, match=r"test:2: unknown tag 'B-ORG' at word 1 .*label_maps"
    ):
        tag_ids(TaggedSentence(["a", "b"], ["O", "B-ORG"], source="test:2"), LABEL2ID)


def test_labels_of_another_length_and_empty_sentences_are_refused():
    """The TaggedSentence record refuses them before anything is encoded."""
    with pytest.raises(
        ValueError, match="one tag per token, found 2 tokens and 1 tags"
    ):
        TaggedSentence(["a", "b"], ["O"])
    with pytest.raises(ValueError, match="empty sentence"):
        TaggedSentence([], [])


def test_align_labels_with_a_real_tokenizer(tokenizer):
    encoding = tokenizer(SENTENCE.tokens, is_split_into_words=True)
    pieces = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    assert pieces == ["[CLS]", "token", "##ization", "of", "gdansk", "works", "[SEP]"]
    labels = align_labels(encoding.word_ids(), tag_ids(SENTENCE, LABEL2ID))
    assert labels == [IGNORE_INDEX, 0, IGNORE_INDEX, 0, 1, 0, IGNORE_INDEX]
    # only the words to be scored get a label
    assert align_labels(encoding.word_ids(), [0, 0, 1, 0], scored=[2]) == [
        -100,
        -100,
        -100,
        -100,
        1,
        -100,
        -100,
    ]


@pytest.mark.parametrize(
    "word_ids, labels, scored, message",
    [
        pytest.param(
            [None, 0, 1, None],
            [0, 0, 0],
            None,
            "labels of a different length than the words: 3 labels for the 2 words",
            id="a-label-too-many",
        ),
        pytest.param(
            [None, 1, 2, None],
            [0, 0],
            [2],
            "labels of a different length than the words: word 2",
            id="no-label-for-a-scored-word",
        ),
        pytest.param(
            [None, 1, 2, None],
            [0, 0, 0, 0],
            [1, 3],
            r"words \[3\] are to be scored but have no piece",
            id="a-scored-word-without-pieces",
        ),
    ],
)
def test_align_labels_bad_input(word_ids, labels, scored, message):
    with pytest.raises(ValueError, match=message):
        align_labels(word_ids, labels, scored=scored)


def test_piece_counts_finds_words_without_pieces(tokenizer):
    # zero-width space
    assert piece_counts(tokenizer, ["Tokenization", "\u200b", "of"]) == [2, 0, 1]


def test_plan_windows_predicts_every_word_exactly_once():
    rng = random.Random(0)
    for _ in range(2_000):  # random sentences, budgets and strides
        budget = rng.randint(1, 12)
        stride = rng.randint(0, budget - 1)
        counts = [
            rng.choice([1, 1, 1, 2, 3, budget + 2]) for _ in range(rng.randint(1, 40))
        ]
        windows = plan_windows(counts, budget, stride)
        capped = [min(c, budget) for c in counts]
        predicted = [w for _, _, first, last in windows for w in range(first, last)]
        assert predicted == list(range(len(counts)))  # each word once, in order
        for start, end, first, last in windows:
            assert start <= first < last <= end and sum(capped[start:end]) <= budget
        for (s1, e1, _, _), (s2, e2, _, _) in zip(windows, windows[1:]):
            assert s1 < s2 <= e1 < e2  # windows move forward and leave no gap
            # the shared context is at most stride pieces
            assert sum(capped[s2:e1]) <= stride


def test_plan_windows_examples_and_errors():
    assert plan_windows([1, 1, 1, 1, 1], 3, 1) == [(0, 3, 0, 2), (2, 5, 2, 5)]
    assert plan_windows([2, 2], 10, 4) == [(0, 2, 0, 2)]  # fits: one window
    # a word longer than the budget is truncated
    assert plan_windows([50], 10, 0) == [(0, 1, 0, 1)]
    for args, message in [
        (([], 5, 1), "empty"),
        (([1, 0], 5, 1), "at least one piece"),
        (([1], 5, 5), r"stride must be in \[0, budget\)"),
        (([1], 0, 0), "budget"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan_windows(*args)


def test_encode_short_sentence_is_one_window(tokenizer):
    (window,) = encode_sentences([SENTENCE], tokenizer, LABEL2ID)
    encoding = tokenizer(SENTENCE.tokens, is_split_into_words=True)
    assert window.input_ids == tuple(
        encoding["input_ids"]
    ) and window.word_ids == tuple(encoding.word_ids())
    assert window.labels == tuple(align_labels(encoding.word_ids(), [0, 0, 1, 0]))
    assert (window.first, window.last, window.n_words) == (
        0,
        4,
        4,
    ) and window.positions == [1, 3, 4, 5]
    assert window.features() == {
        "input_ids": list(window.input_ids),
        "attention_mask": [1] * 7,
        "labels": list(window.labels),
    }


def test_encode_long_sentence_into_windows(tokenizer):
    rng = random.Random(0)
    vocabulary = ["the", "tokenization", "Gdańsk", "of", "unbelievably", "!", "x"]
    words = [rng.choice(vocabulary) for _ in range(60)]
    sentence = TaggedSentence(words, ["B-LOC" if w == "Gdańsk" else "O" for w in words])
    windows = encode_sentences([sentence], tokenizer, LABEL2ID, max_length=16, stride=4)
    assert len(windows) > 3 and all(len(w.input_ids) <= 16 for w in windows)
    assert all(
        w.input_ids[0] == tokenizer.cls_token_id
        and w.input_ids[-1] == tokenizer.sep_token_id
        for w in windows
    )
    labelled = [
        (w.word_ids[p], label)
        for w in windows
        for p, label in enumerate(w.labels)
        if label != IGNORE_INDEX
    ]
    # every word labelled once, in order
    assert labelled == list(enumerate(tag_ids(sentence, LABEL2ID)))


def test_encode_replaces_words_without_pieces(tokenizer):
    (window,) = encode_sentences([["a", "\u200b", "b"]], tokenizer)
    assert tokenizer.convert_ids_to_tokens(list(window.input_ids)) == [
        "[CLS]",
        "a",
        "[UNK]",
        "b",
        "[SEP]",
    ]
    assert window.labels is None and window.positions == [1, 2, 3]


@pytest.mark.parametrize(
    "sentences, label2id, error, message",
    [
        (
            [[]],
            None,
            ValueError,
            "sentence 0: expected at least one word, found an empty sentence",
        ),
        (["a sentence"], None, TypeError, "found str .*split it into words"),
        ([["a", ""]], None, TypeError, "non-empty str, found ''"),
        ([["a", "b"]], LABEL2ID, TypeError, "label2id needs TaggedSentences"),
        ([TaggedSentence(["a"], ["B-XYZ"])], LABEL2ID, KeyError, "unknown tag 'B-XYZ'"),
    ],
)
def test_encode_bad_input(tokenizer, sentences, label2id, error, message):
    with pytest.raises(error, match=message):
        encode_sentences(sentences, tokenizer, label2id)


def test_encode_bad_sizes(tokenizer):
    with pytest.raises(ValueError, match="leaves no room"):
        encode_sentences([["a"]], tokenizer, max_length=2)
    with pytest.raises(ValueError, match=r"stride must be in \[0, 8\)"):
        encode_sentences([["a"]], tokenizer, max_length=10, stride=8)


def test_the_collator_pads_dynamically_with_ignored_labels(tokenizer):
    windows = encode_sentences(
        [SENTENCE, TaggedSentence(["Paris"], ["B-LOC"])], tokenizer, LABEL2ID
    )
    batch = DataCollatorForTokenClassification(tokenizer)(
        [w.features() for w in windows]
    )
    assert batch["input_ids"].shape == (2, 7)  # the longest window, not a fixed length
    assert batch["labels"][1].tolist() == [-100, 1, -100, -100, -100, -100, -100]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert batch["input_ids"][1, 3:].eq(tokenizer.pad_token_id).all()


def test_windows_give_the_same_predictions_as_whole_sentences(tokenizer):
    rng = random.Random(1)
    vocabulary = [
        "the",
        "tokenization",
        "Gdańsk",
        "of",
        "unbelievably",
        "!",
        "x",
        "\u200b",
    ]
    sentences = [
        [rng.choice(vocabulary) for _ in range(rng.randint(1, 50))] for _ in range(30)
    ]
    model = PieceTagger()
    whole = encode_sentences(sentences, tokenizer, max_length=512)
    cut = encode_sentences(sentences, tokenizer, max_length=12, stride=3)
    assert len(cut) > len(whole) == len(sentences)
    expected = merge_windows(
        whole, predict_windows(model, tokenizer, whole, batch_size=7)
    )
    merged = merge_windows(cut, predict_windows(model, tokenizer, cut, batch_size=5))
    assert [m.shape for m in merged] == [(len(s), 5) for s in sentences]
    assert all(torch.equal(a, b) for a, b in zip(merged, expected))
    # the prediction of a word is read at its first piece
    first_piece = tokenizer(
        ["tokenization"], is_split_into_words=True, add_special_tokens=False
    )["input_ids"][0]
    tags = predict_tags(
        model,
        tokenizer,
        [["tokenization"]],
        {i: str(i) for i in range(5)},
        max_length=12,
        stride=3,
    )
    assert tags == [[str(first_piece % 5)]]


def test_predict_windows_keeps_the_model_mode(tokenizer):
    model = PieceTagger().train()
    predict_windows(model, tokenizer, encode_sentences([["a"]], tokenizer))
    assert model.training
    with pytest.raises(ValueError, match="batch_size"):
        predict_windows(model, tokenizer, [], batch_size=0)


def covering(window: Window, like: Window) -> Window:
    """``window`` made to cover the same words as ``like``."""
    return Window(**{**vars(window), "first": like.first, "last": like.last})


@pytest.mark.parametrize(
    "spoil, message",
    [
        pytest.param(
            lambda windows, rows: (windows[:-1], rows[:-1]),
            r"sentence 0: words \[.*\] are predicted by no window",
            id="a-gap",
        ),
        pytest.param(
            lambda windows, rows: (
                [windows[0], covering(windows[1], windows[0])],
                rows[:1] * 2,
            ),
            "predicted by two windows",
            id="a-word-twice",
        ),
        pytest.param(
            lambda windows, rows: (windows, rows[:-1]),
            "windows but",
            id="a-row-too-few",
        ),
    ],
)
def test_merge_windows_refuses_gaps_and_doubles(tokenizer, spoil, message):
    """``spoil(windows, rows)`` gives the windows and rows of predictions to merge."""
    windows = encode_sentences([["a"] * 20], tokenizer, max_length=8, stride=2)
    rows = [torch.zeros(w.last - w.first, 3) for w in windows]
    with pytest.raises(ValueError, match=message):
        merge_windows(*spoil(windows, rows))


def _hub_dataset(names, rows):
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features(
        {"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names))}
    )
    return Dataset.from_dict(
        {"tokens": [r[0] for r in rows], "ner_tags": [r[1] for r in rows]},
        features=features,
    )


def test_hub_to_sentences_uses_the_dataset_label_names():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    data = _hub_dataset(
        names, [(["-DOCSTART-"], [0]), (["Ann", "Lee", "in", "Rome"], [1, 2, 0, 3])]
    )
    assert hub_to_sentences(data) == [
        TaggedSentence(["Ann", "Lee", "in", "Rome"], ["B-PER", "I-PER", "O", "B-LOC"])
    ]


def test_hub_to_sentences_converts_iob1_and_warns_about_empty_rows():
    names = ["O", "I-PER", "B-PER", "I-LOC"]
    data = _hub_dataset(names, [(["Ann", "Bob", "in", "Rome"], [1, 2, 0, 3]), ([], [])])
    with pytest.warns(UserWarning, match="left out 1 rows with no tokens"):
        (sentence,) = hub_to_sentences(data)
    assert (
        sentence.tags == ["B-PER", "B-PER", "O", "B-LOC"] and sentence.source == "row 0"
    )
    with pytest.raises(ValueError, match="row 0: position 0: 'I-PER' follows 'O'"):
        hub_to_sentences(data.select([0]), scheme="iob2")
    with pytest.raises(ValueError, match="unknown tag scheme"):
        hub_to_sentences(data, scheme="bio")


def test_hub_to_sentences_through_load_hub_dataset_on_local_parquet(tmp_path):
    """The full profile's path, offline: parquet files of the Hub's layout, read by
    load_hub_dataset."""
    names = ["O", "B-PER", "I-PER"]
    for split in ("train", "validation", "test"):
        _hub_dataset(names, [(["Ann", "Lee"], [1, 2]), (["x"], [0])]).to_parquet(
            str(tmp_path / f"{split}.parquet")
        )
    hub = load_hub_dataset(str(tmp_path))
    assert hub["test"].features["ner_tags"].feature.names == names
    assert [s.tags for s in hub_to_sentences(hub["test"])] == [
        ["B-PER", "I-PER"],
        ["O"],
    ]
