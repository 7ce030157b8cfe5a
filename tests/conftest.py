"""Shared set-up of the unit tests."""

import pytest

from tutorialkit import claims
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
