"""tutorialkit.deploy: bundles that round-trip, errors for non-bundles, throughput."""

import json
import re
import warnings

import pytest
import torch

from tutorialkit.apps import NerPipeline, SentimentPipeline
from tutorialkit.deploy import (
    BUNDLE_FILE,
    BundleError,
    load_bundle,
    measure_throughput,
    save_bundle,
)

SENTIMENT_LABELS = {0: "negative", 1: "positive"}
# 2 layers of width 32 on the MiniLM vocabulary, the same weights every time
BUNDLE_BERT = {"seed": 0, "max_position_embeddings": 128}


@pytest.fixture(scope="module")
def ner_bundle(make_tiny_bert, ner_labels, tokenizer, tmp_path_factory):
    model = make_tiny_bert("token", id2label=ner_labels, **BUNDLE_BERT).eval()
    folder = save_bundle(
        model,
        tokenizer,
        tmp_path_factory.mktemp("ner") / "bundle",
        task="ner",
        max_length=64,
    )
    return model, folder


def test_ner_bundle_round_trips(ner_bundle, ner_labels, tokenizer):
    model, folder = ner_bundle
    assert json.loads((folder / BUNDLE_FILE).read_text()) == {
        "task": "ner",
        "max_length": 64,
        "labels": list(ner_labels.values()),
        "tutorialkit": "0.1.0",
    }
    bundle = load_bundle(folder, device="cpu")
    assert (bundle.task, bundle.max_length, bundle.id2label) == ("ner", 64, ner_labels)
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


def test_classify_bundle_round_trips(make_tiny_bert, tokenizer, tmp_path):
    model = make_tiny_bert("sequence", id2label=SENTIMENT_LABELS, **BUNDLE_BERT).eval()
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


def test_save_bundle_refuses_an_unknown_task(ner_bundle, tokenizer, tmp_path):
    model, _ = ner_bundle
    with pytest.raises(
        ValueError, match=r"task must be one of \('ner', 'classify'\).*found 'tagging'"
    ):
        save_bundle(model, tokenizer, tmp_path, task="tagging", max_length=64)
    assert not any(tmp_path.iterdir())  # checked before anything is written


BUNDLE_PARTS = [BUNDLE_FILE, "config.json", "tokenizer.json", "tokenizer_config.json"]


@pytest.mark.parametrize(
    "folder, copied, bundle_json, message",
    [
        pytest.param("nowhere", [], None, "{where}/nowhere: no such folder", id="none"),
        pytest.param(
            ".",
            [],
            None,
            f"{{where}} is not a tutorialkit bundle: it has no {BUNDLE_FILE}",
            id="empty",
        ),
        pytest.param(
            ".",
            BUNDLE_PARTS,
            None,
            "{where} is an incomplete bundle: missing model.safetensors",
            id="no-weights",
        ),
        pytest.param(
            ".",
            [*BUNDLE_PARTS, "model.safetensors"],
            '{"task": "translate", "max_length": 64, "labels": []}',
            "expected JSON with 'task'.*found 'translate'",
            id="unknown-task",
        ),
    ],
)
def test_load_bundle_names_the_folder_and_what_is_missing(
    ner_bundle, tmp_path, folder, copied, bundle_json, message
):
    _, bundle = ner_bundle
    for name in copied:
        (tmp_path / name).write_bytes((bundle / name).read_bytes())
    if bundle_json is not None:
        (tmp_path / BUNDLE_FILE).write_text(bundle_json)
    with pytest.raises(
        BundleError, match=message.format(where=re.escape(str(tmp_path)))
    ):
        load_bundle(tmp_path / folder)


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


def test_int8_bundle_quantises_every_linear_and_stays_close(ner_bundle, tokenizer):
    model, folder = ner_bundle
    bundle = load_bundle(folder, device="cpu", int8=True)
    linears = [m for m in bundle.model.modules() if isinstance(m, torch.nn.Linear)]
    # torchao swaps each weight for an int8 tensor with a float scale per row
    assert linears and all(type(m.weight).__name__ != "Parameter" for m in linears)
    assert all("Int8" in type(m.weight).__name__ for m in linears)
    inputs = tokenizer(
        ["Obama visited Paris", "hello"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        exact, rounded = model(**inputs).logits, bundle.model(**inputs).logits
    gap = (rounded - exact).abs().max().item()
    assert 0 < gap < 0.05 * exact.abs().max().item()  # rounded, not broken


@pytest.mark.parametrize("native", [False, True, None])
def test_int8_warns_where_the_cpu_has_no_int8_instructions(
    ner_bundle, monkeypatch, native
):
    import tutorialkit.deploy

    monkeypatch.setattr(tutorialkit.deploy, "cpu_has_int8_dot", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_bundle(ner_bundle[1], device="cpu", int8=True)
    slow = [w for w in caught if "no int8 dot-product instructions" in str(w.message)]
    assert len(slow) == (1 if native is False else 0)  # None: unknown, no warning


def test_int8_without_torchao_says_what_to_install(ner_bundle, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    with pytest.raises(ImportError, match="pip install torchao"):
        load_bundle(ner_bundle[1], device="cpu", int8=True)
