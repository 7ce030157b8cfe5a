"""Shared set-up of the unit tests: the MiniLM tokenizer, tiny BERTs, small files."""

from pathlib import Path

import pytest
import torch

from tutorialkit import claims
from tutorialkit.pretrain import tiny_bert_config
from tutorialkit.resources import load_tokenizer, packaged_path


@pytest.fixture(scope="session")
def tokenizer():
    """The packaged MiniLM's word-piece tokenizer (uncased, 30,522 pieces)."""
    return load_tokenizer(packaged_path("minilm"))


@pytest.fixture(autouse=True)
def _no_claims_folder(monkeypatch):
    """Unit tests never write into the claims folder of the run (``make test`` sets
    one).

    Tests that call ``plan`` or ``claims.start`` would otherwise overwrite a chapter's
    recorded claims (or add chapters such as "other") on the book's Results page. A test
    that needs a folder sets its own (tests/test_claims.py).
    """
    monkeypatch.delenv(claims.RECORD_VARIABLE, raising=False)


@pytest.fixture(scope="session")
def make_bert_config(tokenizer):
    """``make_bert_config(**overrides) -> BertConfig``: a tiny BERT's configuration.

    The package's :func:`tutorialkit.pretrain.tiny_bert_config` on the MiniLM
    vocabulary, scaled down to 2 layers of width 32 with 2 heads (real padding,
    attention and heads, built in milliseconds); any ``BertConfig`` attribute
    overrides these (``vocab_size=50``, ``num_labels=3``, ...).
    """

    def make(**overrides):
        config = tiny_bert_config(tokenizer, layers=2, hidden=32, heads=2)
        config.update(overrides)
        return config

    return make


@pytest.fixture(scope="session")
def make_tiny_bert(make_bert_config):
    """``make_tiny_bert(head, *, id2label=None, seed=None, **overrides)``: a tiny BERT.

    ``head`` picks the model: "sequence" (BertForSequenceClassification), "token"
    (BertForTokenClassification), "masked-lm" (BertForMaskedLM) or "bare" (BertModel,
    no head). ``id2label`` also sets ``label2id`` and the number of labels; ``seed``
    seeds torch first (without it the weights come from the global random state); the
    other arguments override the sizes of ``make_bert_config``. The model is returned
    as built, in training mode.
    """
    from transformers import (
        BertForMaskedLM,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertModel,
    )

    heads = {
        "sequence": BertForSequenceClassification,
        "token": BertForTokenClassification,
        "masked-lm": BertForMaskedLM,
        "bare": BertModel,
    }

    def make(head, *, id2label=None, seed=None, **overrides):
        if id2label is not None:
            overrides["id2label"] = id2label
            overrides["label2id"] = {label: i for i, label in id2label.items()}
        if seed is not None:
            torch.manual_seed(seed)
        return heads[head](make_bert_config(**overrides))

    return make


@pytest.fixture(scope="session")
def ner_labels():
    """The id2label of the tests' person and place taggers (IOB2, five labels)."""
    return {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"}


@pytest.fixture
def make_file(tmp_path):
    """``make_file(name, content) -> Path``: write ``content`` to tmp_path/name byte for
    byte (str as UTF-8, newlines untouched)."""

    def make(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(
            content.encode("utf-8") if isinstance(content, str) else content
        )
        return path

    return make


def _assert_error_at(
    error: pytest.ExceptionInfo, path: Path, line: int | None, *words: str
) -> None:
    """The message starts with "path:line: " (or "path: ") and contains every word."""
    message = str(error.value)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(where), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.fixture(scope="session")
def assert_error_at():
    """``assert_error_at(error, path, line, *words)``: the reader's error names the file
    and the line (``line=None``: the file only), then says every one of ``words``."""
    return _assert_error_at


def _iob2_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each IOB2 chunk, end excluded."""
    spans = []
    for position, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append([tag[2:], position, position + 1])
        elif tag.startswith("I-"):
            spans[-1][2] = position + 1
    return [tuple(span) for span in spans]


@pytest.fixture(scope="session")
def iob2_entities():
    """``iob2_entities(tags)``: (type, start, end) of each chunk of valid IOB2 tags, end
    excluded; written here, not taken from the package, to check its readers."""
    return _iob2_entities
