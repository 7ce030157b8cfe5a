"""tutorialkit.metrics: entity scores equal seqeval's, class reports scikit-learn's."""

import random
import warnings

import numpy as np
import pytest
from seqeval.metrics import classification_report as seqeval_report
from seqeval.scheme import IOB2
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from tutorialkit.metrics import (
    EntityError,
    calibration_bins,
    class_counts,
    classification_report,
    entity_errors,
    entity_report,
    entity_spans,
    mean_interval,
    paired_bootstrap_f1,
    paired_bootstrap_macro_f1,
    precision_recall_f1,
    sentence_entity_counts,
    token_report,
)

TYPES = ["PER", "LOC", "geo-loc"]  # a type may contain "-"


def random_tags(rng: random.Random, n: int, p_entity: float = 0.4) -> list[str]:
    """Arbitrary tag sequences, including ill-formed ones (I- after O, I-X after
    B-Y)."""
    return [
        rng.choice([f"B-{t}" for t in TYPES] + [f"I-{t}" for t in TYPES])
        if rng.random() < p_entity
        else "O"
        for _ in range(n)
    ]


def seqeval(gold, pred, strict=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when a score is 0/0
        kwargs = {"mode": "strict", "scheme": IOB2} if strict else {}
        return seqeval_report(gold, pred, output_dict=True, **kwargs)


def assert_same_as_seqeval(gold, pred, strict=False):
    ours, theirs = (
        entity_report(gold, pred, strict=strict),
        seqeval(gold, pred, strict=strict),
    )
    names = [k for k in theirs if not k.endswith(" avg")]
    assert list(ours.per_type) == names
    rows = {**ours.per_type, "micro avg": ours.micro}
    if ours.per_type:
        rows["macro avg"] = ours.macro
    # no entity at all: seqeval's macro average is nan (a mean over no type), ours is 0
    else:
        assert ours.macro.f1 == 0 and np.isnan(theirs["macro avg"]["f1-score"])
    for name, scores in rows.items():
        expected = theirs[name]
        assert scores.precision == pytest.approx(expected["precision"], abs=1e-12), name
        assert scores.recall == pytest.approx(expected["recall"], abs=1e-12), name
        assert scores.f1 == pytest.approx(expected["f1-score"], abs=1e-12), name
        assert scores.support == expected["support"], name


# --------------------------------------------------------------------------------------
# entity_spans
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, lenient, strict",
    [
        ([], [], []),
        (["O", "O"], [], []),
        (["B-PER"], [("PER", 0, 1)], [("PER", 0, 1)]),  # entity at the very end
        (["O", "B-PER", "I-PER"], [("PER", 1, 3)], [("PER", 1, 3)]),
        (
            ["B-PER", "B-PER"],
            [("PER", 0, 1), ("PER", 1, 2)],
            [("PER", 0, 1), ("PER", 1, 2)],
        ),
        # I- after O: conlleval starts an entity
        (["O", "I-PER", "I-PER"], [("PER", 1, 3)], []),
        # type change
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)], [("PER", 0, 1)]),
        (["B-geo-loc", "I-geo-loc", "O"], [("geo-loc", 0, 2)], [("geo-loc", 0, 2)]),
    ],
)
def test_entity_spans(tags, lenient, strict):
    assert entity_spans(tags) == lenient
    assert entity_spans(tags, strict=True) == strict


@pytest.mark.parametrize("bad", ["B", "B-", "X-PER", "o", "", None])
def test_entity_spans_rejects_bad_tags(bad):
    with pytest.raises(
        ValueError, match="position 1: tag .* is not 'O', 'B-TYPE' or 'I-TYPE'"
    ):
        entity_spans(["O", bad])


# --------------------------------------------------------------------------------------
# entity_report against seqeval
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("seed", range(20))
def test_entity_report_equals_seqeval_on_random_tags(seed, strict):
    rng = random.Random(seed)
    gold = [
        random_tags(rng, rng.randint(0, 12), p_entity=0.3)
        for _ in range(rng.randint(1, 15))
    ]
    # predictions: a copy of gold with random edits, so that some entities match and
    # some do not
    pred = [
        [tag if rng.random() < 0.7 else random_tags(rng, 1)[0] for tag in tags]
        for tags in gold
    ]
    assert_same_as_seqeval(gold, pred, strict=strict)


@pytest.mark.parametrize(
    "gold, pred",
    [
        ([[]], [[]]),  # an empty sentence
        ([["O", "O"]], [["O", "O"]]),  # no entity anywhere
        ([["O", "O"], ["O"]], [["B-PER", "O"], ["I-LOC"]]),  # only false positives
        ([["O", "B-PER"]], [["O", "O"]]),  # only misses, the entity at the end
        ([["O", "B-PER"]], [["O", "B-PER"]]),  # perfect, entity at the end
        # a boundary error is a miss and a false positive
        ([["B-PER", "I-PER"]], [["B-PER", "O"]]),
        # entities never cross sentences
        ([["B-PER", "O"], ["B-PER"]], [["O", "B-PER"], ["B-PER"]]),
        (
            [["O", "I-LOC", "I-LOC"]],
            [["O", "B-LOC", "I-LOC"]],
        ),  # I- after O in gold too
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_entity_report_edge_cases_equal_seqeval(gold, pred, strict):
    assert_same_as_seqeval(gold, pred, strict=strict)


def test_entity_report_counts_and_table():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["B-LOC"]]
    report = entity_report(gold, pred)
    assert (report.correct, report.predicted, report.gold) == (2, 3, 3)
    assert report.per_type["LOC"] == precision_recall_f1(1, 1, 2) and report.per_type[
        "PER"
    ] == precision_recall_f1(1, 2, 1)
    assert report.macro.f1 == pytest.approx((2 / 3 + 2 / 3) / 2)
    table = report.table()
    assert list(table.index) == ["LOC", "PER", "micro avg", "macro avg"]
    assert (
        table.loc["micro avg", "f1"] == pytest.approx(2 / 3)
        and table["support"].dtype.kind == "i"
    )


def test_entity_report_on_no_sentences_is_zero():
    report = entity_report([], [])
    assert report.micro.f1 == 0 and report.macro.f1 == 0 and report.per_type == {}


@pytest.mark.parametrize(
    "gold, pred, error, message",
    [
        ([["O"]], [["O"], ["O"]], ValueError, "2 and 1"),
        ([["O", "O"]], [["O"]], ValueError, "sentence 0: 2 gold tags but 1 predicted"),
        ([["O"]], [["B-"]], ValueError, "predicted sentence 0, position 0"),
        ([["PER"]], [["O"]], ValueError, "gold sentence 0, position 0"),
        (["O"], ["O"], TypeError, "found a str"),
    ],
)
def test_entity_report_bad_input(gold, pred, error, message):
    with pytest.raises(error, match=message):
        entity_report(gold, pred)


def test_entity_errors_kinds():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O", "O"]]
    pred = [["B-PER", "O", "O", "B-ORG", "O", "O", "O", "B-LOC"]]
    errors = entity_errors(gold, pred)
    assert errors == [
        EntityError(0, "wrong boundary", ("PER", 0, 2), ("PER", 0, 1)),
        EntityError(0, "wrong type", ("LOC", 3, 4), ("ORG", 3, 4)),
        EntityError(0, "missed", ("ORG", 5, 6), None),
        EntityError(0, "spurious", None, ("LOC", 7, 8)),
    ]
    gold, pred = [["B-PER", "I-PER"]], [["O", "B-LOC"]]
    assert entity_errors(gold, pred) == [
        EntityError(0, "wrong type and boundary", ("PER", 0, 2), ("LOC", 1, 2))
    ]
    assert entity_errors(gold, gold) == []


@pytest.mark.parametrize("seed", range(5))
def test_entity_errors_account_for_every_miss(seed):
    """Each gold entity that is not predicted exactly is one error with that gold
    entity."""
    rng = random.Random(seed)
    gold = [random_tags(rng, 10) for _ in range(10)]
    pred = [random_tags(rng, 10) for _ in range(10)]
    report = entity_report(gold, pred)
    errors = entity_errors(gold, pred)
    assert sum(e.gold is not None for e in errors) == report.gold - report.correct
    assert all(e.predicted is not None for e in errors if e.kind == "spurious")


# --------------------------------------------------------------------------------------
# precision_recall_f1, classification_report, token_report
# --------------------------------------------------------------------------------------


def test_prf():
    assert precision_recall_f1(3, 4, 6).f1 == pytest.approx(0.6)
    assert (
        precision_recall_f1(0, 0, 0).f1 == 0
        and precision_recall_f1(0, 0, 5).precision == 0
        and precision_recall_f1(0, 5, 0).recall == 0
    )
    with pytest.raises(ValueError, match="correct <= predicted"):
        precision_recall_f1(5, 4, 6)


@pytest.mark.parametrize("seed", range(10))
def test_classification_report_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = ["negative", "neutral", "positive", "other"]
    y_true = rng.choice(labels[:3], size=60).tolist()
    y_pred = rng.choice(labels, size=60).tolist()  # "other" is predicted, never gold
    report = classification_report(y_true, y_pred)
    order = sorted(set(y_true) | set(y_pred))
    assert report.labels == order
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=order, zero_division=0
    )
    for i, label in enumerate(order):
        got = report.per_class[label]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    for average, scores in (("macro", report.macro), ("weighted", report.weighted)):
        expected = precision_recall_fscore_support(
            y_true, y_pred, labels=order, average=average, zero_division=0
        )
        assert (scores.precision, scores.recall, scores.f1) == pytest.approx(
            expected[:3]
        )
    assert report.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert (report.confusion == confusion_matrix(y_true, y_pred, labels=order)).all()
    assert list(report.table().index) == [*order, "macro avg", "weighted avg"]


def test_classification_report_with_fixed_labels_and_integers():
    report = classification_report([0, 1, 1], [0, 1, 0], labels=[1, 0, 2])
    assert report.labels == [1, 0, 2] and report.confusion.tolist() == [
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 0],
    ]
    # a class nobody used still counts in the macro average
    assert report.per_class[2] == precision_recall_f1(0, 0, 0)
    assert report.macro.f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


@pytest.mark.parametrize(
    "y_true, y_pred, labels, message",
    [
        ([0, 1], [0], None, "found 1 and 2"),
        ([], [], None, "empty"),
        ([0, 1], [0, 2], [0, 1], r"labels \['2'\] are not among the classes \[0, 1\]"),
    ],
)
def test_classification_report_bad_input(y_true, y_pred, labels, message):
    with pytest.raises(ValueError, match=message):
        classification_report(y_true, y_pred, labels)


def test_token_report_counts_o_and_flatters_the_tagger():
    gold = [["O"] * 18 + ["B-PER", "I-PER"]]
    pred = [["O"] * 18 + ["B-PER", "O"]]  # the only entity is wrong
    report = token_report(gold, pred)
    assert (
        report.accuracy == pytest.approx(19 / 20)
        and report.per_class["O"].support == 18
    )
    assert entity_report(gold, pred).micro.f1 == 0
    without_o = token_report(gold, pred, include_o=False)
    assert without_o.accuracy == pytest.approx(1 / 2) and without_o.confusion.sum() == 2
    flat_true = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    assert report.accuracy == accuracy_score(flat_true, flat_pred)
    with pytest.raises(ValueError, match="no tags"):
        token_report([["O"]], [["O"]], include_o=False)


# --- calibration


def test_calibration_bins_by_hand():
    probabilities = [[0.9, 0.1], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]]
    y_true = [0, 1, 1, 1, 0]
    cal = calibration_bins(probabilities, y_true, n_bins=5)
    # bins (0, .2] (.2, .4] (.4, .6] (.6, .8] (.8, 1]: 0.5 and 0.6 share a bin, as do
    # 0.9 and 0.95
    assert cal.count.tolist() == [0, 0, 2, 1, 2]
    assert cal.accuracy[2] == pytest.approx(0.5) and cal.confidence[2] == pytest.approx(
        0.55
    )
    assert cal.accuracy[4] == pytest.approx(0.5) and cal.confidence[4] == pytest.approx(
        0.925
    )
    assert np.isnan(cal.accuracy[0])
    expected = (2 * abs(0.5 - 0.55) + 1 * abs(1 - 0.7) + 2 * abs(0.5 - 0.925)) / 5
    assert cal.ece == pytest.approx(expected)


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large_one():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20_000)
    # right exactly as often as it says
    right = rng.uniform(size=confidence.size) < confidence
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    y_true = np.where(right, 0, 1)
    assert calibration_bins(probabilities, y_true).ece < 0.02
    sharpened = np.stack(
        [np.full_like(confidence, 0.99), np.full_like(confidence, 0.01)], axis=1
    )
    assert calibration_bins(sharpened, y_true).ece > 0.2


@pytest.mark.parametrize(
    ("probabilities", "y_true", "message"),
    [
        pytest.param([[2.0, 0.5]], [0], "sum to 1", id="logits"),
        pytest.param(
            [[0.5, 0.5]],
            [0, 1],
            r"expected probabilities of shape \(n, K\) and n labels",
            id="label-count",
        ),
    ],
)
def test_calibration_bins_rejects_bad_input(probabilities, y_true, message):
    with pytest.raises(ValueError, match=message):
        calibration_bins(probabilities, y_true)


def three_taggers(seed: int = 0, n: int = 200):
    """Gold tags and two predictions: ``close`` keeps each gold tag with probability
    0.9, ``noisy`` with 0.5 (else a random tag)."""
    rng = random.Random(seed)
    gold = [random_tags(rng, rng.randint(1, 12)) for _ in range(n)]

    def corrupt(p_keep):
        return [
            [t if rng.random() < p_keep else random_tags(rng, 1)[0] for t in tags]
            for tags in gold
        ]

    return gold, corrupt(0.9), corrupt(0.5)


def test_sentence_entity_counts_add_up_to_the_entity_report():
    gold, close, _ = three_taggers()
    counts = sentence_entity_counts(gold, close)
    report = entity_report(gold, close)
    assert counts.shape == (len(gold), 3)
    assert counts.sum(0).tolist() == [report.correct, report.predicted, report.gold]


def test_paired_bootstrap_difference_is_the_entity_report_difference():
    gold, close, noisy = three_taggers()
    result = paired_bootstrap_f1(gold, close, noisy, resamples=500)
    expected = entity_report(gold, close).micro.f1 - entity_report(gold, noisy).micro.f1
    assert result.difference == pytest.approx(expected, abs=1e-12)
    # a much better tagger: the whole interval is above 0, and it brackets the point
    assert 0 < result.low < result.difference < result.high
    assert (result.items, result.unit) == (len(gold), "sentences")
    # reversed systems: the same interval, mirrored
    mirrored = paired_bootstrap_f1(gold, noisy, close, resamples=500)
    assert mirrored.low == pytest.approx(-result.high)


def test_paired_bootstrap_of_a_tagger_against_itself_is_zero_and_seeded():
    gold, close, noisy = three_taggers(seed=1)
    same = paired_bootstrap_f1(gold, close, close, resamples=300)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    first = paired_bootstrap_f1(gold, close, noisy, resamples=300, seed=4)
    assert first == paired_bootstrap_f1(gold, close, noisy, resamples=300, seed=4)
    # a wider confidence gives a wider interval
    wide = paired_bootstrap_f1(
        gold, close, noisy, resamples=300, seed=4, confidence=0.99
    )
    assert wide.low <= first.low and wide.high >= first.high


@pytest.mark.parametrize(
    "kwargs, message",
    [({"confidence": 1.0}, "confidence"), ({"confidence": 0.0}, "confidence")],
)
def test_paired_bootstrap_rejects_a_bad_confidence(kwargs, message):
    gold, close, noisy = three_taggers(n=5)
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_f1(gold, close, noisy, **kwargs)


def test_paired_bootstrap_rejects_no_sentences_and_mismatched_lengths():
    with pytest.raises(ValueError, match="at least one test item"):
        paired_bootstrap_f1([], [], [])
    with pytest.raises(ValueError, match="sentence 0"):
        paired_bootstrap_f1([["O", "O"]], [["O"]], [["O", "O"]])


def test_mean_interval_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        mean, half = mean_interval(rng.normal(0.3, 2.0, size=50))
        covered += abs(mean - 0.3) <= half
    assert 0.92 < covered / 400 < 0.98
    assert mean_interval([0.25]) == (0.25, 0.0)
    with pytest.raises(ValueError, match="at least one value"):
        mean_interval([])


def test_paired_bootstrap_macro_f1_matches_the_classification_report():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    good = np.where(rng.random(300) < 0.8, y, rng.integers(0, 3, 300))
    poor = np.where(rng.random(300) < 0.5, y, rng.integers(0, 3, 300))
    result = paired_bootstrap_macro_f1(y, good, poor, labels=range(3), resamples=500)
    expected = (
        classification_report(y, good, labels=range(3)).macro.f1
        - classification_report(y, poor, labels=range(3)).macro.f1
    )
    assert result.difference == pytest.approx(expected, abs=1e-12)
    assert 0 < result.low < result.difference < result.high
    assert (result.items, result.unit) == (300, "texts")
    # the counts behind it: per class, summed over texts, what the report counts
    counts = class_counts(y, good, range(3)).sum(0)
    confusion = classification_report(y, good, labels=range(3)).confusion
    assert counts[:, 0].tolist() == np.diag(confusion).tolist()
    with pytest.raises(ValueError, match="as many predictions"):
        class_counts([0, 1], [0], range(2))
