"""tutorialkit.apps: the NER pipeline (entities with offsets) and the sentiment one."""

import re
from types import SimpleNamespace

import pytest
import torch

from tutorialkit.apps import (
    Entity,
    NerPipeline,
    Sentiment,
    SentimentPipeline,
    split_words,
)

SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
PLACES_AND_PEOPLE = {
    "obama": "B-PER",
    "new": "B-LOC",
    "york": "I-LOC",
    "paris": "B-LOC",
}

# --- NerPipeline


class Gazetteer(torch.nn.Module):
    """A stand-in tagger that knows a few word pieces and nothing else (no context,
    deterministic)."""

    def __init__(self, tokenizer, id2label: dict[int, str], rules: dict[str, str]):
        super().__init__()
        n_labels = len(id2label)
        self.config = SimpleNamespace(num_labels=n_labels, max_position_embeddings=512)
        self.weight = torch.nn.Parameter(torch.zeros(()))
        label2id = {label: i for i, label in id2label.items()}
        self.rules = {
            tokenizer.convert_tokens_to_ids(piece): label2id[tag]
            for piece, tag in rules.items()
        }

    def forward(self, input_ids, attention_mask=None, **_):
        n_labels = self.config.num_labels
        logits = torch.zeros(*input_ids.shape, n_labels) + self.weight
        logits[..., 0] = 2.0
        for piece, label in self.rules.items():
            logits[input_ids == piece] = (
                torch.nn.functional.one_hot(torch.tensor(label), n_labels).float() * 4
            )
        return SimpleNamespace(logits=logits.to(input_ids.device))


@pytest.fixture(scope="module")
def pipeline(tokenizer, ner_labels):
    model = Gazetteer(tokenizer, ner_labels, PLACES_AND_PEOPLE)
    return NerPipeline(model, tokenizer, ner_labels)


def test_split_words_offsets():
    text = "Obama  visited\tNew York,\n(again)!  café-au-lait 42nd"
    words = split_words(text)
    assert [w for w, _, _ in words] == [
        "Obama",
        "visited",
        "New",
        "York",
        ",",
        "(",
        "again",
        ")",
        "!",
        "café",
        "-",
        "au",
        "-",
        "lait",
        "42nd",
    ]
    assert all(text[start:end] == word for word, start, end in words)
    assert split_words("") == [] and split_words(" \n\t ") == []
    assert [w for w, _, _ in split_words("@user #tag", re.compile(r"\S+"))] == [
        "@user",
        "#tag",
    ]
    with pytest.raises(TypeError, match="expected a str, found int"):
        split_words(3)


def test_pipeline_finds_entities_with_character_offsets(pipeline):
    texts = ["Obama  visited   New    York, then Paris!", "nothing here", "PARIS"]
    found = pipeline(texts)
    assert [
        [(e.text, e.label, e.start, e.end) for e in entities] for entities in found
    ] == [
        [
            ("Obama", "PER", 0, 5),
            ("New    York", "LOC", 17, 28),
            ("Paris", "LOC", 35, 40),
        ],
        [],
        [("PARIS", "LOC", 0, 5)],
    ]
    for text, entities in zip(texts, found):
        for entity in entities:
            assert (
                text[entity.start : entity.end] == entity.text and 0 < entity.score <= 1
            )
    assert isinstance(found[0][0], Entity)


def test_pipeline_reads_long_texts_in_windows(tokenizer, ner_labels):
    model = Gazetteer(tokenizer, ner_labels, {"paris": "B-LOC"})
    text = " ".join(["word"] * 300 + ["Paris"] + ["word"] * 300 + ["Paris"])
    pipe = NerPipeline(model, tokenizer, ner_labels, max_length=32, stride=8)
    (entities,) = pipe([text])
    assert [(e.start, e.end) for e in entities] == [
        (1500, 1505),
        (len(text) - 5, len(text)),
    ]


def test_pipeline_results_do_not_depend_on_the_batch(tokenizer, ner_labels):
    texts = [f"Obama and {'New York ' * n}met in Paris" for n in range(12)]
    model = Gazetteer(tokenizer, ner_labels, PLACES_AND_PEOPLE)
    one = NerPipeline(model, tokenizer, ner_labels, batch_size=1)(texts)
    assert one == NerPipeline(model, tokenizer, ner_labels, batch_size=5, device="cpu")(
        texts
    )


def test_pipeline_with_a_real_bert_is_batch_invariant(
    make_tiny_bert, tokenizer, ner_labels
):
    """A real (tiny, random) BERT: padding must not change a text's predictions, nor its
    entities."""
    model = make_tiny_bert(
        "token", seed=0, num_hidden_layers=1, num_labels=len(ner_labels)
    ).eval()
    texts = ["Obama visited Paris.", "a much longer text " * 6, "x"]
    one_by_one = [NerPipeline(model, tokenizer, ner_labels)([t])[0] for t in texts]
    together = NerPipeline(model, tokenizer, ner_labels, batch_size=3)(texts)
    assert [[(e.label, e.start, e.end) for e in es] for es in one_by_one] == [
        [(e.label, e.start, e.end) for e in es] for es in together
    ]
    for a, b in zip(one_by_one, together):
        assert [e.score for e in a] == pytest.approx([e.score for e in b], abs=1e-5)


def test_pipeline_edge_cases(pipeline):
    assert pipeline([]) == []
    # no words, and a word the tokenizer erases
    assert pipeline(["", "   ", "\u200b"]) == [[], [], []]


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda pipe, tokenizer, labels: pipe("Paris"),
            TypeError,
            "expected a list of texts, found str: wrap a single text in a list",
            id="a-str",
        ),
        pytest.param(
            lambda pipe, tokenizer, labels: pipe(["Paris", None]),
            TypeError,
            "text 1: expected a str, found NoneType",
            id="a-none-text",
        ),
        pytest.param(
            lambda pipe, tokenizer, labels: NerPipeline(
                pipe.model, tokenizer, {0: "O", 1: "B-LOC"}
            ),
            ValueError,
            "id2label must name the model's 5 labels",
            id="too-few-labels",
        ),
        pytest.param(
            lambda pipe, tokenizer, labels: NerPipeline(
                pipe.model, tokenizer, labels, batch_size=0
            ),
            ValueError,
            "batch_size",
            id="batch-size-0",
        ),
    ],
)
def test_pipeline_refuses_bad_input_and_settings(
    pipeline, tokenizer, ner_labels, call, error, message
):
    with pytest.raises(error, match=message):
        call(pipeline, tokenizer, ner_labels)


def test_pipeline_decodes_stray_inside_tags_like_the_metric(tokenizer, ner_labels):
    # an I- with no B- before it
    model = Gazetteer(tokenizer, ner_labels, {"york": "I-LOC"})
    assert [
        e.text for e in NerPipeline(model, tokenizer, ner_labels)(["in York"])[0]
    ] == ["York"]
    assert NerPipeline(model, tokenizer, ner_labels, strict=True)(["in York"]) == [[]]


def test_pipeline_with_the_training_length_finds_the_evaluated_entities(
    make_tiny_bert, tokenizer, ner_labels
):
    """With the training max_length, the pipeline finds the entities of predict_tags'
    tags, long texts too."""
    from tutorialkit.metrics import entity_spans
    from tutorialkit.ner import predict_tags

    model = make_tiny_bert("token", seed=1, num_labels=len(ner_labels)).eval()
    sentences = [
        ("Obama visited Paris and then New York " * 12).split(),
        "a short one".split(),
    ]
    texts = [" ".join(words) for words in sentences]
    tags = predict_tags(model, tokenizer, sentences, ner_labels, max_length=24)
    evaluated = [
        [(kind, len(" ".join(words[:i])) + (i > 0)) for kind, i, _ in entity_spans(t)]
        for words, t in zip(sentences, tags)
    ]
    by_spaces = re.compile(r"[^ ]+")
    found = NerPipeline(model, tokenizer, ner_labels, max_length=24, pattern=by_spaces)(
        texts
    )
    assert [[(e.label, e.start) for e in es] for es in found] == evaluated
    # the random tagger finds something, so the comparison has content
    assert evaluated[0]
    # one 512-piece window
    default = NerPipeline(model, tokenizer, ner_labels, pattern=by_spaces)(texts)
    # what the chapters got wrong
    assert [[(e.label, e.start) for e in es] for es in default] != evaluated


# --- SentimentPipeline


@pytest.fixture(scope="module")
def sentiment_bert(make_tiny_bert):
    """A 1-layer BERT of width 32 with random weights and 64 positions: real padding and
    attention, in milliseconds."""
    return make_tiny_bert(
        "sequence",
        seed=0,
        num_hidden_layers=1,
        num_labels=3,
        max_position_embeddings=64,
    ).eval()


def reference(model, tokenizer, text, max_length=64):
    """The probabilities of one text, computed without the pipeline (no padding at
    all)."""
    batch = tokenizer(
        [text], truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        return torch.softmax(model(**batch).logits, dim=-1)[0]


def test_sentiment_pipeline_returns_labels_and_probabilities_in_input_order(
    sentiment_bert, tokenizer
):
    texts = [
        "a much longer text about a film that goes on and on " * 3,
        "ok",
        "I loved it!",
        "meh, not great",
    ]
    answers = SentimentPipeline(
        sentiment_bert, tokenizer, SENTIMENT_LABELS, batch_size=2
    )(texts)
    assert len(answers) == len(texts) and all(isinstance(a, Sentiment) for a in answers)
    # sorting by length and padding changed nothing
    for text, answer in zip(texts, answers):
        expected = reference(sentiment_bert, tokenizer, text)
        assert list(answer.probabilities) == ["negative", "neutral", "positive"]
        assert torch.allclose(
            torch.tensor(list(answer.probabilities.values())), expected, atol=1e-5
        )
        assert answer.label == SENTIMENT_LABELS[int(expected.argmax())]
        assert answer.score == max(answer.probabilities.values())
        assert sum(answer.probabilities.values()) == pytest.approx(1.0)


def test_sentiment_pipeline_results_do_not_depend_on_the_batch_size(
    sentiment_bert, tokenizer
):
    texts = [f"review number {i} " + "so so " * (i % 7) for i in range(11)]
    one = SentimentPipeline(sentiment_bert, tokenizer, SENTIMENT_LABELS, batch_size=1)(
        texts
    )
    many = SentimentPipeline(
        sentiment_bert, tokenizer, SENTIMENT_LABELS, batch_size=4, device="cpu"
    )(texts)
    assert [a.label for a in one] == [a.label for a in many]
    for a, b in zip(one, many):
        assert list(a.probabilities.values()) == pytest.approx(
            list(b.probabilities.values()), abs=1e-5
        )


def test_sentiment_pipeline_cuts_long_texts_and_restores_the_training_mode(
    sentiment_bert, tokenizer
):
    long_text = "word " * 500 + "end"  # 500 pieces: past the tiny model's 64 positions
    sentiment_bert.train()
    # max_length: 64 by default
    (answer,) = SentimentPipeline(sentiment_bert, tokenizer, SENTIMENT_LABELS)(
        [long_text]
    )
    # the pipeline evaluates with dropout off, then puts the mode back
    assert sentiment_bert.training
    sentiment_bert.eval()
    expected = reference(sentiment_bert, tokenizer, long_text)
    assert list(answer.probabilities.values()) == pytest.approx(
        expected.tolist(), abs=1e-5
    )
    head_tail = SentimentPipeline(
        sentiment_bert, tokenizer, SENTIMENT_LABELS, max_length=16, head=4
    )([long_text])[0]
    assert head_tail.label in SENTIMENT_LABELS.values()


def test_sentiment_pipeline_of_no_text_is_empty(sentiment_bert, tokenizer):
    assert SentimentPipeline(sentiment_bert, tokenizer, SENTIMENT_LABELS)([]) == []


@pytest.mark.parametrize(
    "texts, error, message",
    [
        pytest.param(
            "a great film",
            TypeError,
            "expected a list of texts, found str: wrap a single text in a list",
            id="a-str",
        ),
        pytest.param(
            ["fine", 3], TypeError, "text 1: expected a str, found int", id="an-int"
        ),
        pytest.param(
            [None], TypeError, "text 0: expected a str, found NoneType", id="a-none"
        ),
        pytest.param(
            ["fine", "good", " \n\t"],
            ValueError,
            "text 2 is empty or only whitespace",
            id="whitespace",
        ),
        pytest.param([""], ValueError, "text 0 is empty", id="empty"),
    ],
)
def test_sentiment_pipeline_refuses_bad_texts(
    sentiment_bert, tokenizer, texts, error, message
):
    pipe = SentimentPipeline(sentiment_bert, tokenizer, SENTIMENT_LABELS)
    with pytest.raises(error, match=message):
        pipe(texts)


@pytest.mark.parametrize(
    "id2label, settings, message",
    [
        pytest.param(
            {0: "negative", 1: "positive"},
            {},
            "id2label must name the model's 3 labels",
            id="too-few-labels",
        ),
        pytest.param(
            SENTIMENT_LABELS, {"batch_size": 0}, "batch_size must be >= 1", id="batch-0"
        ),
        pytest.param(
            SENTIMENT_LABELS,
            {"max_length": 16, "head": 15},
            "head must leave room for the special tokens",
            id="head-too-long",
        ),
    ],
)
def test_sentiment_pipeline_refuses_bad_settings(
    sentiment_bert, tokenizer, id2label, settings, message
):
    with pytest.raises(ValueError, match=message):
        SentimentPipeline(sentiment_bert, tokenizer, id2label, **settings)
