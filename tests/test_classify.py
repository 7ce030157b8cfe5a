"""tutorialkit.classify: cutting long texts, training features and predictions."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from tutorialkit.classify import (
    encode_labeled,
    encode_texts,
    predict_logits,
    truncate_pieces,
)
from tutorialkit.data import LabeledText


def test_truncate_pieces():
    pieces = list(range(10))
    assert truncate_pieces(pieces, 4) == [0, 1, 2, 3]
    assert truncate_pieces(pieces, 4, head=1) == [0, 7, 8, 9]
    assert truncate_pieces(pieces, 4, head=4) == [0, 1, 2, 3]
    assert truncate_pieces(pieces, 4, head=0) == [6, 7, 8, 9]
    assert truncate_pieces(pieces[:3], 4, head=1) == [0, 1, 2]  # fits: unchanged
    with pytest.raises(ValueError, match="head must be between 0 and the budget"):
        truncate_pieces(pieces, 4, head=5)
    with pytest.raises(ValueError, match="budget must be >= 1"):
        truncate_pieces(pieces, 0)


def test_encode_texts_keeps_special_tokens_and_matches_plain_truncation(tokenizer):
    texts = ["the start is dull " * 10 + "but the ending is wonderful", "short"]
    plain = tokenizer(texts, truncation=True, max_length=12)["input_ids"]
    assert encode_texts(texts, tokenizer, 12) == plain
    head_tail = encode_texts(texts, tokenizer, 12, head=3)[0]
    assert len(head_tail) == 12
    assert (
        head_tail[0] == tokenizer.cls_token_id
        and head_tail[-1] == tokenizer.sep_token_id
    )
    assert tokenizer.decode(head_tail[1:4]) == "the start is"
    # the last 7 pieces
    assert tokenizer.decode(head_tail[4:-1]) == "is dull but the ending is wonderful"
    with pytest.raises(ValueError, match="leaves no room"):
        encode_texts(texts, tokenizer, 2)


def test_encode_labeled_gives_ids_mask_and_class_index(tokenizer):
    rows = [
        LabeledText("a gorgeous film " * 20, "positive"),
        LabeledText("dull", "negative", source="t.csv:3"),
    ]
    features = encode_labeled(
        rows, tokenizer, ["negative", "neutral", "positive"], max_length=12
    )
    expected = tokenizer([r.text for r in rows], truncation=True, max_length=12)[
        "input_ids"
    ]
    assert [f["input_ids"] for f in features] == expected
    assert [f["labels"] for f in features] == [2, 0]
    assert [f["attention_mask"] for f in features] == [
        [1] * len(ids) for ids in expected
    ]
    head_tail = encode_labeled(
        rows[:1], tokenizer, ["positive"], max_length=12, head=4
    )[0]["input_ids"]
    assert head_tail == encode_texts([rows[0].text], tokenizer, 12, head=4)[0]


def test_encode_labeled_names_the_row_with_an_unknown_label(tokenizer):
    rows = [
        LabeledText("fine", "positive"),
        LabeledText("meh", "mixed", source="reviews.csv:7"),
    ]
    with pytest.raises(
        ValueError,
        match=r"reviews.csv:7: label 'mixed' is not one of \['negative', 'positive'\]",
    ):
        encode_labeled(rows, tokenizer, ["negative", "positive"], max_length=16)


def test_predict_logits_matches_one_text_at_a_time_and_keeps_the_mode(
    make_tiny_bert, tokenizer
):
    model = make_tiny_bert(
        "sequence", seed=0, num_hidden_layers=1, num_labels=3
    ).train()
    rows = [LabeledText("short", "a"), LabeledText("a much longer text " * 5, "c")]
    features = encode_labeled(rows, tokenizer, ["a", "b", "c"], max_length=32)
    loader = DataLoader(
        features, batch_size=2, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    y_true, logits = predict_logits(model, loader)
    assert model.training, "the model is left in the mode it was in"
    assert isinstance(y_true, np.ndarray) and y_true.tolist() == [0, 2]
    assert logits.shape == (2, 3) and logits.dtype == torch.float32
    model.eval()
    for i, feature in enumerate(features):  # alone, without padding
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([feature["input_ids"]])).logits[0]
        torch.testing.assert_close(logits[i], alone, rtol=1e-4, atol=1e-5)
