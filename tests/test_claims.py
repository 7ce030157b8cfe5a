"""tutorialkit.claims: failed claims raise (not in a rehearsal); values are recorded."""

import json

import pytest

from tutorialkit import claims


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(claims.RECORD_VARIABLE, str(tmp_path))
    return tmp_path


def test_a_claim_that_holds_is_recorded_with_its_value(folder):
    claims.start("06_ner", "quick")
    # nothing returned: a notebook cell that ends with a claim shows no "True"
    assert (
        claims.claim(0.4 > 0.1, "fine-tuning beats the untrained head", value=0.123456)
        is None
    )
    saved = json.loads((folder / "quick" / "06_ner.json").read_text())
    assert saved == [
        {
            "chapter": "06_ner",
            "text": "fine-tuning beats the untrained head",
            "value": 0.1235,
            "held": True,
        }
    ]


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_a_failed_claim_raises_with_its_text_and_value(folder, profile):
    claims.start("07_sentiment", profile)
    with pytest.raises(
        claims.ClaimFailed,
        match=r"07_sentiment \(" + profile + r"\): weights help \[value: -0.02\]",
    ):
        claims.claim(False, "weights help", value=-0.02)
    assert (
        json.loads((folder / profile / "07_sentiment.json").read_text())[0]["held"]
        is False
    )


def test_a_rehearsal_records_a_failed_claim_instead_of_raising(folder, capsys):
    claims.start("06_ner", "full", rehearsal=True)
    claims.claim(False, "F1 above 0.8", value=0.01)
    assert "(rehearsal, recorded) claim failed" in capsys.readouterr().out
    assert [c.held for c in claims.recorded()] == [False]
    assert (folder / "rehearsal" / "06_ner.json").exists()


def test_start_clears_the_chapter_and_values_become_plain_json(folder):
    import numpy as np
    import torch

    claims.start("01_concepts", "quick")
    claims.claim(
        True, "a", value={"x": np.float64(1 / 3), "y": torch.tensor(2.0), "z": (1, "b")}
    )
    # a re-run of the chapter starts its list again
    claims.start("01_concepts", "quick")
    assert claims.recorded() == []
    claims.claim(True, "b", value=[np.int64(3)])
    assert json.loads((folder / "quick" / "01_concepts.json").read_text())[0][
        "value"
    ] == [3]


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.RECORD_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    claims.start("02_attention", "quick")
    claims.claim(True, "a", value=1)
    assert list(tmp_path.iterdir()) == []


def test_the_table_has_one_row_per_claim_and_one_column_per_profile(folder):
    for profile, rehearsal, value, held in [
        ("quick", False, 0.3, True),
        ("full", True, 0.01, False),
    ]:
        claims.start("06_ner", profile, rehearsal=rehearsal)
        claims.claim(held, "F1 | gain", value=value)
    table = claims.claims_table(claims.read_claims(folder))
    assert table.splitlines() == [
        "| chapter | claim | quick | rehearsal |",
        "|---|---|---|---|",
        "| 06_ner | F1 \\| gain | 0.3 | 0.01 ✗ |",
    ]
    assert claims.claims_table(
        claims.read_claims(folder), chapter_column=False
    ).splitlines()[::2] == [
        "| claim | quick | rehearsal |",
        "| F1 \\| gain | 0.3 | 0.01 ✗ |",
    ]
