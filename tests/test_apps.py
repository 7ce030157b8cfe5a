"""tutorialkit.apps: raw text to entity spans with character offsets."""

import re
from types import SimpleNamespace

import pytest
import torch

from tutorialkit.apps import Entity, NerPipeline, split_words
from tutorialkit.resources import load_tokenizer, packaged_path

ID2LABEL = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(packaged_path("minilm"))


class Gazetteer(torch.nn.Module):
    """A stand-in tagger that knows a few word pieces and nothing else (no context,
    deterministic)."""

    def __init__(self, tokenizer, rules: dict[str, str]):
        super().__init__()
        self.config = SimpleNamespace(
            num_labels=len(ID2LABEL), max_position_embeddings=512
        )
        self.weight = torch.nn.Parameter(torch.zeros(()))
        label2id = {label: i for i, label in ID2LABEL.items()}
        self.rules = {
            tokenizer.convert_tokens_to_ids(piece): label2id[tag]
            for piece, tag in rules.items()
        }

    def forward(self, input_ids, attention_mask=None, **_):
        logits = torch.zeros(*input_ids.shape, len(ID2LABEL)) + self.weight
        logits[..., 0] = 2.0
        for piece, label in self.rules.items():
            logits[input_ids == piece] = (
                torch.nn.functional.one_hot(torch.tensor(label), len(ID2LABEL)).float()
                * 4
            )
        return SimpleNamespace(logits=logits.to(input_ids.device))


@pytest.fixture(scope="module")
def pipeline(tokenizer):
    model = Gazetteer(
        tokenizer, {"obama": "B-PER", "new": "B-LOC", "york": "I-LOC", "paris": "B-LOC"}
    )
    return NerPipeline(model, tokenizer, ID2LABEL)


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


def test_pipeline_reads_long_texts_in_windows(tokenizer):
    model = Gazetteer(tokenizer, {"paris": "B-LOC"})
    text = " ".join(["word"] * 300 + ["Paris"] + ["word"] * 300 + ["Paris"])
    pipe = NerPipeline(model, tokenizer, ID2LABEL, max_length=32, stride=8)
    (entities,) = pipe([text])
    assert [(e.start, e.end) for e in entities] == [
        (1500, 1505),
        (len(text) - 5, len(text)),
    ]


def test_pipeline_results_do_not_depend_on_the_batch(tokenizer):
    texts = [f"Obama and {'New York ' * n}met in Paris" for n in range(12)]
    model = Gazetteer(
        tokenizer, {"obama": "B-PER", "new": "B-LOC", "york": "I-LOC", "paris": "B-LOC"}
    )
    assert NerPipeline(model, tokenizer, ID2LABEL, batch_size=1)(texts) == NerPipeline(
        model, tokenizer, ID2LABEL, batch_size=5, device="cpu"
    )(texts)


def test_pipeline_with_a_real_bert_is_batch_invariant(tokenizer):
    """A real (tiny, random) BERT: padding must not change a text's predictions, nor its
    entities."""
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(ID2LABEL),
    )
    model = BertForTokenClassification(config).eval()
    texts = ["Obama visited Paris.", "a much longer text " * 6, "x"]
    one_by_one = [NerPipeline(model, tokenizer, ID2LABEL)([t])[0] for t in texts]
    together = NerPipeline(model, tokenizer, ID2LABEL, batch_size=3)(texts)
    assert [[(e.label, e.start, e.end) for e in es] for es in one_by_one] == [
        [(e.label, e.start, e.end) for e in es] for es in together
    ]
    for a, b in zip(one_by_one, together):
        assert [e.score for e in a] == pytest.approx([e.score for e in b], abs=1e-5)


def test_pipeline_edge_cases_and_bad_input(pipeline, tokenizer):
    assert pipeline([]) == []
    # no words, and a word the tokenizer erases
    assert pipeline(["", "   ", "\u200b"]) == [[], [], []]
    with pytest.raises(
        TypeError,
        match="expected a list of texts, found str: wrap a single text in a list",
    ):
        pipeline("Paris")
    with pytest.raises(TypeError, match="text 1: expected a str, found NoneType"):
        pipeline(["Paris", None])
    with pytest.raises(ValueError, match="id2label must name the model's 5 labels"):
        NerPipeline(pipeline.model, tokenizer, {0: "O", 1: "B-LOC"})
    with pytest.raises(ValueError, match="batch_size"):
        NerPipeline(pipeline.model, tokenizer, ID2LABEL, batch_size=0)


def test_pipeline_decodes_stray_inside_tags_like_the_metric(tokenizer):
    model = Gazetteer(tokenizer, {"york": "I-LOC"})  # an I- with no B- before it
    assert [
        e.text for e in NerPipeline(model, tokenizer, ID2LABEL)(["in York"])[0]
    ] == ["York"]
    assert NerPipeline(model, tokenizer, ID2LABEL, strict=True)(["in York"]) == [[]]


def test_pipeline_with_the_training_length_finds_the_evaluated_entities(tokenizer):
    """With the training max_length, the pipeline finds the entities of predict_tags'
    tags, long texts too."""
    from transformers import BertConfig, BertForTokenClassification

    from tutorialkit.metrics import entity_spans
    from tutorialkit.ner import predict_tags

    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(ID2LABEL),
    )
    model = BertForTokenClassification(config).eval()
    sentences = [
        ("Obama visited Paris and then New York " * 12).split(),
        "a short one".split(),
    ]
    texts = [" ".join(words) for words in sentences]
    tags = predict_tags(model, tokenizer, sentences, ID2LABEL, max_length=24)
    evaluated = [
        [(kind, len(" ".join(words[:i])) + (i > 0)) for kind, i, _ in entity_spans(t)]
        for words, t in zip(sentences, tags)
    ]
    by_spaces = re.compile(r"[^ ]+")
    found = NerPipeline(model, tokenizer, ID2LABEL, max_length=24, pattern=by_spaces)(
        texts
    )
    assert [[(e.label, e.start) for e in es] for es in found] == evaluated
    # the random tagger finds something, so the comparison has content
    assert evaluated[0]
    # one 512-piece window
    default = NerPipeline(model, tokenizer, ID2LABEL, pattern=by_spaces)(texts)
    # what the chapters got wrong
    assert [[(e.label, e.start) for e in es] for es in default] != evaluated
