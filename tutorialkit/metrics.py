"""Evaluation metrics: entity-level scores for tagging, reports for classification.

**Entities.** NER is scored on *entities*, not on tags: a predicted entity counts as
correct only when its type and both of its boundaries equal those of a gold entity (the
CoNLL-2000/2003 definition, which ``conlleval`` and ``seqeval`` implement).
:func:`entity_spans` reads the entities out of a tag sequence, :func:`entity_report`
computes precision, recall and F1 per type, their micro average (pooled counts) and
their macro average (mean over types), and :func:`entity_errors` sorts the mistakes into
kinds. :func:`paired_bootstrap_f1` puts an interval on the F1 difference of two taggers
scored on the same sentences, :func:`paired_bootstrap_macro_f1` on the macro-F1
difference of two classifiers scored on the same texts; :func:`mean_interval` does the
same for any per-item score (the difference of two classifiers' hits on the same texts,
a result over seeds).

Gold tags from :mod:`tutorialkit.conll` are always valid IOB2; a model's predictions
need not be (an ``I-PER`` after ``O``). Like ``conlleval`` and seqeval's default mode,
an ``I-X`` that does not continue an ``X`` entity *starts* one; with ``strict=True``, as
in seqeval's ``mode="strict", scheme=IOB2``, it belongs to no entity.

**Classes.** :func:`classification_report` gives accuracy, per-class
precision/recall/F1, macro and weighted averages and the confusion matrix of any
classifier (sentence classification in later chapters); :func:`token_report` applies it
to the tags of every word, which is the token-level score (``O`` included) that flatters
a tagger.

**Calibration.** :func:`calibration_bins` compares a classifier's confidence with how
often it is right, and gives the expected calibration error (ECE);
:func:`tutorialkit.plots.reliability_diagram` draws it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

# (type, start, end): words [start, end) form an entity of this type
Span = tuple[str, int, int]
ERROR_KINDS = (
    "wrong type",
    "wrong boundary",
    "wrong type and boundary",
    "missed",
    "spurious",
)


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one class (or an average), and its support.

    ``support`` is the number of gold items (entities, or examples of a class).

    Example:

    >>> precision_recall_f1(correct=3, predicted=4, gold=6)
    Scores(precision=0.75, recall=0.5, f1=0.6, support=6)
    """

    precision: float
    recall: float
    f1: float
    support: int


def precision_recall_f1(correct: int, predicted: int, gold: int) -> Scores:
    """Precision ``correct/predicted``, recall ``correct/gold`` and their harmonic mean
    F1.

    A ratio with a zero denominator is 0 (nothing predicted: precision 0; nothing to
    find: recall 0), the convention of seqeval and scikit-learn (``zero_division=0``).

    Example:

    >>> precision_recall_f1(3, 4, 6).f1
    0.6
    """
    if not 0 <= correct <= min(predicted, gold):
        raise ValueError(
            f"expected 0 <= correct <= predicted and gold, found {correct}, "
            f"{predicted}, {gold}"
        )
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, gold)


def _average(scores: list[Scores], weights: np.ndarray, support: int) -> Scores:
    """Weighted mean of the precisions, recalls and F1s (macro: equal weights); all 0
    without scores."""
    if not scores:
        return Scores(0.0, 0.0, 0.0, support)
    mean = [
        float(np.average([getattr(s, f) for s in scores], weights=weights))
        for f in ("precision", "recall", "f1")
    ]
    return Scores(*mean, support=support)


# --------------------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------------------


def _split_tag(tag: str, position: int) -> tuple[str, str]:
    """("B" | "I" | "O", type) of a tag, or a ValueError saying what a tag must look
    like."""
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and tag[:2] in ("B-", "I-") and len(tag) > 2:
        return tag[0], tag[2:]
    raise ValueError(
        f"position {position}: tag {tag!r} is not 'O', 'B-TYPE' or 'I-TYPE'"
    )


def entity_spans(tags: Sequence[str], *, strict: bool = False) -> list[Span]:
    """The entities of one tag sequence, as ``(type, start, end)`` with ``end``
    exclusive.

    An entity starts at ``B-X`` and continues over the ``I-X`` that follow it. An
    ``I-X`` that does not continue an ``X`` entity (after ``O``, or after a tag of
    another type) starts a new entity, as in ``conlleval``; with ``strict=True`` it is
    ignored.

    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC"], strict=True)
    [('PER', 0, 2)]
    """
    spans: list[Span] = []
    # the open entity's type (None: no entity open) and first word
    kind, start = None, 0
    for position, tag in enumerate(tags):
        prefix, tag_type = _split_tag(tag, position)
        if prefix == "I" and kind == tag_type:
            continue  # the open entity goes on
        if kind is not None:
            spans.append((kind, start, position))
            kind = None
        if prefix == "B" or (prefix == "I" and not strict):
            kind, start = tag_type, position
    if kind is not None:
        spans.append((kind, start, len(tags)))
    return spans


def _check_pairs(gold: Sequence[Sequence], pred: Sequence[Sequence]) -> None:
    """Same number of sequences, and the same length for each pair; else a ValueError
    saying where."""
    if isinstance(gold, str) or isinstance(pred, str):
        raise TypeError(
            "expected lists of tag sequences (one per sentence), found a str"
        )
    if len(gold) != len(pred):
        raise ValueError(
            f"expected as many predicted sequences as gold ones, found {len(pred)} "
            f"and {len(gold)}"
        )
    for index, (g, p) in enumerate(zip(gold, pred)):
        if isinstance(g, str) or isinstance(p, str):
            raise TypeError(
                f"sentence {index}: expected a sequence of tags, found a str"
            )
        if len(g) != len(p):
            raise ValueError(
                f"sentence {index}: {len(g)} gold tags but {len(p)} predicted tags"
            )


def _sentence_spans(
    sequences: Sequence[Sequence[str]], strict: bool, what: str
) -> list[list[Span]]:
    """entity_spans of every sentence; an invalid tag's error names the sentence."""
    spans = []
    for index, tags in enumerate(sequences):
        try:
            spans.append(entity_spans(tags, strict=strict))
        except ValueError as error:
            raise ValueError(f"{what} sentence {index}, {error}") from None
    return spans


@dataclass(frozen=True)
class EntityReport:
    """Entity-level scores: per type, micro average (pooled counts) and macro average
    (mean of types).

    ``per_type`` lists every type that occurs in the gold *or* the predicted tags,
    sorted, as seqeval does. ``correct``, ``predicted`` and ``gold`` are the pooled
    entity counts. :meth:`table` gives them all as a DataFrame.

    Example:

    >>> report = entity_report([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    >>> report.micro.f1, report.correct, report.predicted, report.gold
    (0.0, 0, 1, 1)
    """

    per_type: dict[str, Scores]
    micro: Scores
    macro: Scores
    correct: int
    predicted: int
    gold: int

    def table(self):
        """A pandas DataFrame: one row per type, then "micro avg" and "macro avg"."""
        import pandas as pd

        rows = {**self.per_type, "micro avg": self.micro, "macro avg": self.macro}
        return pd.DataFrame({name: vars(s) for name, s in rows.items()}).T.astype(
            {"precision": float, "recall": float, "f1": float, "support": int}
        )


def entity_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    strict: bool = False,
) -> EntityReport:
    """Entity-level precision, recall and F1 of predicted tag sequences against gold
    ones.

    An entity is a ``(sentence, type, start, end)``; a prediction is correct when all
    four match a gold entity (exact match: a right type with one boundary off is one
    false positive *and* one false negative). Per type :math:`P = c/p`, :math:`R = c/g`,
    :math:`F_1 = 2PR/(P+R)`; micro: the same on counts summed over types; macro: the
    unweighted mean of the per-type P, R and F1. Matches
    ``seqeval.metrics.classification_report`` (and with ``strict=True`` its
    ``mode="strict", scheme=IOB2``).

    Example (one entity right, one with the wrong type):

    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> entity_report(gold, [["B-PER", "I-PER", "O", "B-ORG"]]).micro
    Scores(precision=0.5, recall=0.5, f1=0.5, support=2)
    """
    _check_pairs(gold, pred)
    gold_spans = _sentence_spans(gold, strict, "gold")
    pred_spans = _sentence_spans(pred, strict, "predicted")
    gold_set = {(i, *span) for i, spans in enumerate(gold_spans) for span in spans}
    pred_set = {(i, *span) for i, spans in enumerate(pred_spans) for span in spans}
    correct = gold_set & pred_set
    count = {
        name: Counter(entity[1] for entity in entities)
        for name, entities in (
            ("gold", gold_set),
            ("pred", pred_set),
            ("correct", correct),
        )
    }
    types = sorted(set(count["gold"]) | set(count["pred"]))
    per_type = {
        t: precision_recall_f1(count["correct"][t], count["pred"][t], count["gold"][t])
        for t in types
    }
    micro = precision_recall_f1(len(correct), len(pred_set), len(gold_set))
    macro = _average(list(per_type.values()), np.ones(len(per_type)), len(gold_set))
    return EntityReport(
        per_type, micro, macro, len(correct), len(pred_set), len(gold_set)
    )


def sentence_entity_counts(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    strict: bool = False,
) -> np.ndarray:
    """The (correct, predicted, gold) entity counts of each sentence, shape (n, 3).

    Their column sums are :func:`entity_report`'s ``correct``, ``predicted`` and
    ``gold``, so micro F1 is ``2 c / (p + g)`` of the sums: what a bootstrap over
    sentences resamples.

    Example:

    >>> sentence_entity_counts([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]])
    array([[1, 1, 1],
           [0, 0, 1]])
    """
    _check_pairs(gold, pred)
    pairs = zip(
        _sentence_spans(gold, strict, "gold"),
        _sentence_spans(pred, strict, "predicted"),
    )
    rows = [(len(set(g) & set(p)), len(p), len(g)) for g, p in pairs]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True)
class PairedDifference:
    """A score of system a minus system b, with a bootstrap interval over the test
    items (sentences or texts)."""

    difference: float
    low: float
    high: float
    confidence: float
    items: int
    unit: str = "sentences"

    def __str__(self) -> str:
        return (
            f"{self.difference:+.3f} ({self.confidence:.0%} interval "
            f"{self.low:+.3f} to {self.high:+.3f}, {self.items:,} {self.unit})"
        )


def _micro_f1(counts: np.ndarray) -> np.ndarray:
    """F1 ``2c / (p + g)`` of summed (correct, predicted, gold) counts in the last
    axis; 0 when there is nothing."""
    correct, predicted, gold = np.moveaxis(counts, -1, 0)
    total = predicted + gold
    return np.where(total > 0, 2 * correct / np.maximum(total, 1), 0.0)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    score: Callable[[np.ndarray], np.ndarray],
    resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``score`` of a's summed per-item counts minus b's, and the percentile interval
    of that difference when the items are drawn again with replacement.

    ``a`` and ``b`` hold one row of counts per test item (a sentence's correct,
    predicted and gold entities; a text's per-class counts), so a score is a function
    of their sums. A draw of the items is a vector of how often each was drawn, and the
    sums of a batch of draws are one matrix product. Each draw scores *both* systems
    (paired), so the interval says how much the difference depends on which items
    were tested. It does not cover the training run's own noise (seed, data order):
    that takes several runs.

    Example (one item: drawing it again changes nothing):

    >>> paired_bootstrap(np.array([[1.0]]), np.array([[0.0]]), lambda c: c[..., 0])
    (1.0, 1.0, 1.0)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a value in (0, 1), found {confidence}")
    n, rng, diffs = len(a), np.random.default_rng(seed), []
    if n == 0:
        raise ValueError("expected at least one test item, found none")
    for start in range(0, resamples, 250):  # (chunk, n) draw counts at a time
        weights = rng.multinomial(
            n, np.full(n, 1 / n), size=min(250, resamples - start)
        )
        diffs.append(
            score(np.tensordot(weights, a, axes=1))
            - score(np.tensordot(weights, b, axes=1))
        )
    low, high = np.quantile(
        np.concatenate(diffs), [(1 - confidence) / 2, (1 + confidence) / 2]
    )
    return float(score(a.sum(0)) - score(b.sum(0))), float(low), float(high)


def paired_bootstrap_f1(
    gold: Sequence[Sequence[str]],
    pred_a: Sequence[Sequence[str]],
    pred_b: Sequence[Sequence[str]],
    *,
    resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Micro entity F1 of ``pred_a`` minus ``pred_b`` and a percentile bootstrap
    interval over the test sentences (both taggers scored on the same draws).

    Example (a finds the one entity, b does not):

    >>> gold = [["B-PER", "O"]] * 3
    >>> str(paired_bootstrap_f1(gold, gold, [["O", "O"]] * 3, resamples=100))
    '+1.000 (95% interval +1.000 to +1.000, 3 sentences)'
    """
    a = sentence_entity_counts(gold, pred_a)
    b = sentence_entity_counts(gold, pred_b)
    result = paired_bootstrap(a, b, _micro_f1, resamples, confidence, seed)
    return PairedDifference(*result, confidence, len(a))


def class_counts(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]
) -> np.ndarray:
    """Per text and class, whether it is a correct prediction of the class, a
    prediction of it, a gold example of it: shape (n, classes, 3), 0 or 1.

    Summed over the texts, these are the counts of each class's precision and recall.

    >>> class_counts([0, 1], [0, 0], labels=[0, 1])[:, :, 0]  # correct, per class
    array([[1, 0],
           [0, 0]])
    """
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"expected as many predictions as gold labels, found {len(y_pred)} and "
            f"{len(y_true)}"
        )
    gold = np.asarray(y_true)[:, None] == np.asarray(labels)[None, :]
    pred = np.asarray(y_pred)[:, None] == np.asarray(labels)[None, :]
    return np.stack([gold & pred, pred, gold], axis=-1).astype(np.int64)


def paired_bootstrap_macro_f1(
    y_true: Sequence[int],
    pred_a: Sequence[int],
    pred_b: Sequence[int],
    *,
    labels: Sequence[int],
    resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Macro-F1 of classifier a minus classifier b on the same texts, and a
    percentile bootstrap interval over the texts (both scored on the same draws).

    Example (a is right on every text, b always answers 0):

    >>> str(paired_bootstrap_macro_f1([0, 1, 1], [0, 1, 1], [0, 0, 0], labels=[0, 1]))
    '+0.750 (95% interval +0.000 to +0.750, 3 texts)'
    """
    a = class_counts(y_true, pred_a, labels)
    b = class_counts(y_true, pred_b, labels)
    result = paired_bootstrap(
        a, b, lambda c: _micro_f1(c).mean(-1), resamples, confidence, seed
    )
    return PairedDifference(*result, confidence, len(a), "texts")


def mean_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """The mean of ``values`` and the half-width ``z * s / sqrt(n)`` of its normal
    interval (95% for the default ``z``); half-width 0 for a single value.

    For a paired comparison pass the per-item differences (``hits_a - hits_b`` on the
    same texts): the interval then says how much the difference depends on which items
    were tested, not how much it would move with another training run.

    >>> mean_interval([1.0, 0.0, 1.0, 1.0])
    (0.75, 0.49)
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("expected at least one value, found none")
    if values.size == 1:
        return float(values[0]), 0.0
    half = z * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


@dataclass(frozen=True)
class EntityError:
    """One mistake of a tagger: a gold entity it got wrong, or an entity it made up.

    ``kind`` is one of ``"wrong type"`` (same words, other type), ``"wrong boundary"``
    (same type, overlapping words), ``"wrong type and boundary"``, ``"missed"`` (nothing
    predicted on those words) or ``"spurious"`` (a predicted entity that overlaps no
    gold entity). ``gold`` and ``predicted`` are ``(type, start, end)`` spans or None.

    Example:

    >>> error = EntityError(3, "wrong type", ("LOC", 0, 1), ("ORG", 0, 1))
    >>> error.gold[0], error.predicted[0]
    ('LOC', 'ORG')
    """

    sentence: int
    kind: str
    gold: Span | None
    predicted: Span | None


def _overlap(a: Span, b: Span) -> bool:
    """True when two spans share at least one word."""
    return a[1] < b[2] and b[1] < a[2]


def entity_errors(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    strict: bool = False,
) -> list[EntityError]:
    """Every entity-level mistake, sorted into kinds (see :class:`EntityError`),
    sentence by sentence.

    Each gold entity without an exact match gives one error: paired with the predicted
    entity of the same words (wrong type), else with the first overlapping prediction
    (wrong boundary, or type and boundary), else none (missed). Each predicted entity
    that overlaps no gold entity is spurious.

    Example:

    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> errors = entity_errors(gold, [["B-PER", "O", "O", "B-ORG"]])
    >>> Counter(e.kind for e in errors)
    Counter({'wrong boundary': 1, 'wrong type': 1})
    """
    _check_pairs(gold, pred)
    errors = []
    for index, (gold_spans, pred_spans) in enumerate(
        zip(
            _sentence_spans(gold, strict, "gold"),
            _sentence_spans(pred, strict, "predicted"),
        )
    ):
        predicted = set(pred_spans)
        for g in gold_spans:
            if g in predicted:
                continue
            same_words = [p for p in pred_spans if p[1:] == g[1:]]
            overlapping = [p for p in pred_spans if _overlap(p, g)]
            if same_words:
                errors.append(EntityError(index, "wrong type", g, same_words[0]))
            elif overlapping:
                p = next((p for p in overlapping if p[0] == g[0]), overlapping[0])
                kind = "wrong boundary" if p[0] == g[0] else "wrong type and boundary"
                errors.append(EntityError(index, kind, g, p))
            else:
                errors.append(EntityError(index, "missed", g, None))
        for p in pred_spans:
            if not any(_overlap(p, g) for g in gold_spans):
                errors.append(EntityError(index, "spurious", None, p))
    return errors


# --------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassificationReport:
    """Accuracy, per-class scores, macro and weighted averages and the confusion matrix.

    ``confusion[i, j]`` counts examples of gold class ``labels[i]`` predicted as
    ``labels[j]``. Macro averages weigh every class the same; weighted averages weigh
    each class by its support. :meth:`table` gives the scores as a DataFrame.

    Example:

    >>> report = classification_report(["pos", "neg", "neg"], ["pos", "pos", "neg"])
    >>> report.labels, report.confusion.tolist()
    (['neg', 'pos'], [[1, 1], [0, 1]])
    """

    labels: list
    per_class: dict[Hashable, Scores]
    accuracy: float
    macro: Scores
    weighted: Scores
    confusion: np.ndarray

    def summary(self) -> dict[str, float]:
        """The two numbers a comparison table shows: accuracy and macro-F1."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro.f1}

    def table(self):
        """A pandas DataFrame like scikit-learn's report: one row per class, then the
        averages."""
        import pandas as pd

        rows = {
            **self.per_class,
            "macro avg": self.macro,
            "weighted avg": self.weighted,
        }
        frame = pd.DataFrame({str(name): vars(s) for name, s in rows.items()}).T
        return frame.astype(
            {"precision": float, "recall": float, "f1": float, "support": int}
        )


def classification_report(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
) -> ClassificationReport:
    """Evaluate a classifier: accuracy, per-class P/R/F1, macro and weighted averages,
    confusion matrix.

    ``labels`` fixes the classes and their order (default: every class in ``y_true`` or
    ``y_pred``, sorted); a prediction outside ``labels`` is an error. Equal to
    scikit-learn's ``precision_recall_fscore_support(..., zero_division=0)``,
    ``accuracy_score`` and ``confusion_matrix``.

    Example:

    >>> classification_report(["pos", "neg"], ["pos", "pos"]).accuracy
    0.5
    """
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"expected as many predictions as gold labels, found {len(y_pred)} and "
            f"{len(y_true)}"
        )
    if not y_true:
        raise ValueError("cannot evaluate an empty set of examples")
    labels = sorted(set(y_true) | set(y_pred)) if labels is None else list(labels)
    index = {label: i for i, label in enumerate(labels)}
    outside = sorted({str(y) for y in y_true + y_pred if y not in index})
    if outside:
        raise ValueError(f"labels {outside} are not among the classes {labels}")
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        confusion[index[t], index[p]] += 1
    correct, predicted, gold = (
        np.diag(confusion),
        confusion.sum(axis=0),
        confusion.sum(axis=1),
    )
    per_class = {
        label: precision_recall_f1(int(correct[i]), int(predicted[i]), int(gold[i]))
        for i, label in enumerate(labels)
    }
    scores, total = list(per_class.values()), int(gold.sum())
    macro = _average(scores, np.ones(len(scores)), total)
    weighted = _average(scores, gold.astype(float), total)
    return ClassificationReport(
        labels,
        per_class,
        float(correct.sum() / len(y_true)),
        macro,
        weighted,
        confusion,
    )


def token_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    include_o: bool = True,
) -> ClassificationReport:
    """Score every word's tag as a separate classification: the token-level view of a
    tagger.

    With ``include_o=True`` (the default, and the usual token-level score) the ``O``
    words, the vast majority, count like any other, so the accuracy (equal to the
    micro-averaged F1) is high even for a tagger that finds few entities.
    ``include_o=False`` keeps only the words that are inside an entity in the gold *or*
    the prediction.

    Example (a tagger that finds nothing):

    >>> gold, pred = [["O", "O", "O", "B-PER"]], [["O", "O", "O", "O"]]
    >>> token_report(gold, pred).accuracy
    0.75
    >>> token_report(gold, pred, include_o=False).accuracy
    0.0
    """
    _check_pairs(gold, pred)
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    if not include_o:
        pairs = [(g, p) for g, p in pairs if g != "O" or p != "O"]
    if not pairs:
        raise ValueError("no tags to score")
    y_true, y_pred = zip(*pairs)
    return classification_report(y_true, y_pred)


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Confidence against accuracy in equal-width bins: what a reliability diagram
    draws.

    ``confidence[b]`` and ``accuracy[b]`` are the mean top probability and the share of
    correct predictions of the ``count[b]`` examples whose top probability falls in bin
    ``b`` (NaN for an empty bin); ``ece`` is the expected calibration error, ``sum_b
    count[b]/n * |accuracy[b] - confidence[b]|``.

    Example (one prediction at 0.9, right, one at 0.6, wrong):

    >>> calibration = calibration_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=5)
    >>> calibration.count.tolist(), calibration.accuracy.tolist()
    ([0, 0, 1, 0, 1], [nan, nan, 0.0, nan, 1.0])
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float


def calibration_bins(probabilities, y_true, n_bins: int = 10) -> Calibration:
    """Bin the predictions by their top probability and compare it with how often they
    are right.

    ``probabilities`` is an ``(n, K)`` array (rows sum to 1), ``y_true`` the ``n`` true
    class indices. A calibrated model is right 80% of the time when it says 0.8: its
    points lie on the diagonal and its ECE is 0 (Guo et al., 2017, *On calibration of
    modern neural networks*).

    Example (``(|1 - 0.9| + |0 - 0.6|) / 2``):

    >>> calibration_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=5).ece
    0.35
    """
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(y_true)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(
            f"calibration_bins: expected probabilities of shape (n, K) and n labels, "
            f"found {p.shape} and {y.shape}"
        )
    if p.shape[0] == 0:
        raise ValueError("calibration_bins: no predictions to bin")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "calibration_bins: expected rows of probabilities that sum to 1 (apply "
            "softmax to logits)"
        )
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, found {n_bins}")
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins (a, b]
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, n_bins) / count
        accuracy = np.bincount(which, correct, n_bins) / count
    gaps = np.where(
        count > 0, np.abs(np.nan_to_num(accuracy) - np.nan_to_num(mean_confidence)), 0.0
    )
    ece = float((count / count.sum() * gaps).sum())
    return Calibration(edges, count, mean_confidence, accuracy, ece)
