"""tutorialkit.apps: the sentiment pipeline (texts in, label and probabilities out)."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from tutorialkit.apps import Sentiment, SentimentPipeline

ID2LABEL = {0: "negative", 1: "neutral", 2: "positive"}


@pytest.fixture(scope="module")
def tiny_bert(tokenizer):
    """A 1-layer BERT of width 32 with random weights: real padding and attention, in
    milliseconds."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        max_position_embeddings=64,
    )
    return BertForSequenceClassification(config).eval()


def reference(model, tokenizer, text, max_length=64):
    """The probabilities of one text, computed without the pipeline (no padding at
    all)."""
    batch = tokenizer(
        [text], truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        return torch.softmax(model(**batch).logits, dim=-1)[0]


def test_pipeline_returns_labels_and_probabilities_in_input_order(tiny_bert, tokenizer):
    texts = [
        "a much longer text about a film that goes on and on " * 3,
        "ok",
        "I loved it!",
        "meh, not great",
    ]
    answers = SentimentPipeline(tiny_bert, tokenizer, ID2LABEL, batch_size=2)(texts)
    assert len(answers) == len(texts) and all(isinstance(a, Sentiment) for a in answers)
    # sorting by length and padding changed nothing
    for text, answer in zip(texts, answers):
        expected = reference(tiny_bert, tokenizer, text)
        assert list(answer.probabilities) == ["negative", "neutral", "positive"]
        assert torch.allclose(
            torch.tensor(list(answer.probabilities.values())), expected, atol=1e-5
        )
        assert answer.label == ID2LABEL[int(expected.argmax())]
        assert answer.score == max(answer.probabilities.values())
        assert sum(answer.probabilities.values()) == pytest.approx(1.0)


def test_pipeline_results_do_not_depend_on_the_batch_size(tiny_bert, tokenizer):
    texts = [f"review number {i} " + "so so " * (i % 7) for i in range(11)]
    one = SentimentPipeline(tiny_bert, tokenizer, ID2LABEL, batch_size=1)(texts)
    many = SentimentPipeline(
        tiny_bert, tokenizer, ID2LABEL, batch_size=4, device="cpu"
    )(texts)
    assert [a.label for a in one] == [a.label for a in many]
    for a, b in zip(one, many):
        assert list(a.probabilities.values()) == pytest.approx(
            list(b.probabilities.values()), abs=1e-5
        )


def test_pipeline_cuts_long_texts_and_restores_the_training_mode(tiny_bert, tokenizer):
    long_text = "word " * 500 + "end"  # 500 pieces: past the tiny model's 64 positions
    tiny_bert.train()
    # max_length: 64 by default
    (answer,) = SentimentPipeline(tiny_bert, tokenizer, ID2LABEL)([long_text])
    # the pipeline evaluates with dropout off, then puts the mode back
    assert tiny_bert.training
    tiny_bert.eval()
    expected = reference(tiny_bert, tokenizer, long_text)
    assert list(answer.probabilities.values()) == pytest.approx(
        expected.tolist(), abs=1e-5
    )
    head_tail = SentimentPipeline(
        tiny_bert, tokenizer, ID2LABEL, max_length=16, head=4
    )([long_text])[0]
    assert head_tail.label in ID2LABEL.values()


def test_pipeline_bad_input(tiny_bert, tokenizer):
    pipe = SentimentPipeline(tiny_bert, tokenizer, ID2LABEL)
    assert pipe([]) == []
    with pytest.raises(
        TypeError,
        match="expected a list of texts, found str: wrap a single text in a list",
    ):
        pipe("a great film")
    with pytest.raises(TypeError, match="text 1: expected a str, found int"):
        pipe(["fine", 3])
    with pytest.raises(TypeError, match="text 0: expected a str, found NoneType"):
        pipe([None])
    with pytest.raises(ValueError, match="text 2 is empty or only whitespace"):
        pipe(["fine", "good", " \n\t"])
    with pytest.raises(ValueError, match="text 0 is empty"):
        pipe([""])


def test_pipeline_bad_configuration(tiny_bert, tokenizer):
    with pytest.raises(ValueError, match="id2label must name the model's 3 labels"):
        SentimentPipeline(tiny_bert, tokenizer, {0: "negative", 1: "positive"})
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        SentimentPipeline(tiny_bert, tokenizer, ID2LABEL, batch_size=0)
    with pytest.raises(ValueError, match="head must leave room for the special tokens"):
        SentimentPipeline(tiny_bert, tokenizer, ID2LABEL, max_length=16, head=15)
