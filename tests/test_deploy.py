"""tutorialkit.deploy: bundles that round-trip, clear errors for folders that are not
bundles, throughput."""

import json
import re

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)

from tutorialkit.apps import NerPipeline, SentimentPipeline
from tutorialkit.deploy import (
    BUNDLE_FILE,
    BundleError,
    load_bundle,
    measure_throughput,
    save_bundle,
)
from tutorialkit.resources import load_tokenizer, packaged_path

NER_LABELS = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"}
SENTIMENT_LABELS = {0: "negative", 1: "positive"}


def tiny_bert(head, tokenizer, id2label: dict[int, str]) -> torch.nn.Module:
    """A randomly initialised 2-layer BERT (hidden size 32) with a head, on the real
    MiniLM vocabulary."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    return head(config).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(packaged_path("minilm"))


@pytest.fixture(scope="module")
def ner_bundle(tokenizer, tmp_path_factory):
    model = tiny_bert(BertForTokenClassification, tokenizer, NER_LABELS)
    folder = save_bundle(
        model,
        tokenizer,
        tmp_path_factory.mktemp("ner") / "bundle",
        task="ner",
        max_length=64,
    )
    return model, folder


def test_ner_bundle_round_trips(ner_bundle, tokenizer):
    model, folder = ner_bundle
    assert json.loads((folder / BUNDLE_FILE).read_text()) == {
        "task": "ner",
        "max_length": 64,
        "labels": list(NER_LABELS.values()),
        "tutorialkit": "0.1.0",
    }
    bundle = load_bundle(folder, device="cpu")
    assert (bundle.task, bundle.max_length, bundle.id2label) == ("ner", 64, NER_LABELS)
    assert not bundle.model.training and bundle.model.dtype == torch.float32
    inputs = tokenizer(
        ["Obama visited Paris", "hello"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        torch.testing.assert_close(
            bundle.model(**inputs).logits, model(**inputs).logits, rtol=0, atol=1e-6
        )
    pipe = bundle.pipeline(batch_size=4)
    assert (
        isinstance(pipe, NerPipeline) and pipe.batch_size == 4 and pipe.max_length == 64
    )


def test_classify_bundle_round_trips(tokenizer, tmp_path):
    model = tiny_bert(BertForSequenceClassification, tokenizer, SENTIMENT_LABELS)
    save_bundle(model, tokenizer, tmp_path, task="classify", max_length=32)
    bundle = load_bundle(tmp_path, device="cpu")
    inputs = tokenizer(["a great film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(
            bundle.model(**inputs).logits, model(**inputs).logits, rtol=0, atol=1e-6
        )
    pipe = bundle.pipeline()
    assert isinstance(pipe, SentimentPipeline)
    answer = pipe(["a great film"])[0]
    assert set(answer.probabilities) == {"negative", "positive"}
    assert sum(answer.probabilities.values()) == pytest.approx(1)


def test_save_bundle_refuses_an_unknown_task(tokenizer, tmp_path):
    model = tiny_bert(BertForTokenClassification, tokenizer, NER_LABELS)
    with pytest.raises(
        ValueError, match=r"task must be one of \('ner', 'classify'\).*found 'tagging'"
    ):
        save_bundle(model, tokenizer, tmp_path, task="tagging", max_length=64)
    assert not any(tmp_path.iterdir())  # checked before anything is written


def test_load_bundle_names_the_folder_and_what_is_missing(ner_bundle, tmp_path):
    _, folder = ner_bundle
    where = re.escape(str(tmp_path))
    with pytest.raises(BundleError, match=f"{where}/nowhere: no such folder"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(
        BundleError,
        match=f"{where} is not a tutorialkit bundle: it has no {BUNDLE_FILE}",
    ):
        load_bundle(tmp_path)
    for name in [BUNDLE_FILE, "config.json", "tokenizer.json", "tokenizer_config.json"]:
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(
        BundleError, match=f"{where} is an incomplete bundle: missing model.safetensors"
    ):
        load_bundle(tmp_path)
    (tmp_path / BUNDLE_FILE).write_text(
        '{"task": "translate", "max_length": 64, "labels": []}'
    )
    (tmp_path / "model.safetensors").write_bytes(
        (folder / "model.safetensors").read_bytes()
    )
    with pytest.raises(
        BundleError, match="expected JSON with 'task'.*found 'translate'"
    ):
        load_bundle(tmp_path)


def test_measure_throughput_reports_every_batch_size(ner_bundle):
    pipe = load_bundle(ner_bundle[1], device="cpu").pipeline(batch_size=5)
    texts = [
        "Obama visited Paris",
        "nothing",
        "Angela Merkel met Macron in Berlin yesterday",
    ]
    rows = measure_throughput(pipe, texts, batch_sizes=(1, 2), repeats=2)
    assert [row["batch_size"] for row in rows] == [1, 2] and pipe.batch_size == 5
    for row in rows:
        assert (row["texts"], row["repeats"]) == (3, 2)
        assert row["seconds"] > 0 and row["ms_per_text"] > 0 and row["texts_per_s"] > 0
        assert row["ms_per_text"] == pytest.approx(1000 * row["seconds"] / 3)
        assert row["texts_per_s"] == pytest.approx(3 / row["seconds"])
    # 3 texts in batches of 2
    assert rows[1]["ms_per_batch"] == pytest.approx(1000 * rows[1]["seconds"] / 2)
    with pytest.raises(ValueError, match="at least one text"):
        measure_throughput(pipe, [])
