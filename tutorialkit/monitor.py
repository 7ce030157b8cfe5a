"""Monitoring a model's predictions over time: windows, label shares, an alert rule,
drift.

A classifier run over a stream of timestamped texts gives one label per text. To watch
the stream, :func:`window_counts` groups the labels into fixed time windows and
:func:`window_shares` turns the counts into the share of each label per window.
:func:`alert_table` applies a rule a reader can tune: raise an alert when the share of
one label jumps above its recent baseline by more than both a fixed margin and the noise
expected from the window's size. :func:`population_stability_index` measures how far a
distribution (of predicted labels, of text lengths) has moved from the one the model was
checked on: the drift check before and after deployment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def window_counts(
    timestamps: Sequence,
    labels: Sequence[str],
    freq: str = "1h",
    label_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """How many texts of each label fall into each time window: a (windows, labels)
    table of counts.

    ``timestamps`` are anything ``pandas.to_datetime`` reads; windows are ``freq`` long
    (a pandas frequency such as ``"15min"``, ``"1h"``, ``"1D"``) and start on multiples
    of it. Windows between the first and the last text that hold no text are kept, with
    zeros, so that a gap in the stream is visible. Columns follow ``label_order``
    (default: the labels sorted), and a label that never occurs still gets its column of
    zeros.

    Example (the empty 10:00 window is kept):

    >>> times = ["2024-01-01 09:10", "2024-01-01 09:50", "2024-01-01 11:05"]
    >>> counts = window_counts(times, ["neg", "pos", "pos"])
    >>> counts.index.hour.tolist(), counts.to_dict("list")
    ([9, 10, 11], {'neg': [1, 0, 0], 'pos': [1, 0, 1]})
    """
    if len(timestamps) != len(labels):
        raise ValueError(
            f"expected one timestamp per label, found {len(timestamps)} timestamps "
            f"and {len(labels)} labels"
        )
    if not len(labels):
        raise ValueError("expected at least one prediction, found none")
    order = sorted(set(labels)) if label_order is None else list(label_order)
    unknown = sorted(set(labels) - set(order))
    if unknown:
        raise ValueError(f"labels {unknown} are not in label_order {order}")
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(timestamps),
            "label": pd.Categorical(labels, categories=order),
        }
    )
    frame["window"] = frame["time"].dt.floor(freq)
    counts = (
        frame.groupby(["window", "label"], observed=False)
        .size()
        .unstack("label", fill_value=0)
    )
    every_window = pd.date_range(
        counts.index.min(), counts.index.max(), freq=freq, name="window"
    )
    return counts.reindex(every_window, fill_value=0)[order].rename_axis(columns=None)


def window_shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Each window's counts divided by its total: the share of each label, rows summing
    to 1.

    A window without texts has no share (NaN), not a share of 0.

    Example:

    >>> window_shares(pd.DataFrame({"neg": [1, 0], "pos": [3, 0]}))
        neg   pos
    0  0.25  0.75
    1   NaN   NaN
    """
    totals = counts.sum(axis=1)
    return counts.div(totals.where(totals > 0), axis=0)


def alert_table(
    counts: pd.DataFrame,
    label: str,
    *,
    history: int = 6,
    min_jump: float = 0.1,
    z: float = 2.0,
    min_count: int = 20,
) -> pd.DataFrame:
    """Apply the alert rule to each window in turn; one row per window saying why it
    alerts or not.

    With ``p_t`` the share of ``label`` in window ``t`` (``n_t`` texts) and ``b_t`` its
    share in the texts of the last ``history`` windows *that raised no alert* (so an
    incident does not become its own baseline), window ``t`` alerts when

        n_t >= min_count and p_t - b_t >= max(min_jump, z * sqrt(b_t (1 - b_t) / n_t)).

    The second term is ``z`` standard errors of a share measured on ``n_t`` texts: a
    jump that chance alone would often produce in a small window does not alert. The
    first ``history`` windows only build the baseline. Columns: ``n``, ``share``,
    ``baseline``, ``jump``, ``threshold``, ``alert``.

    Example (the share of ``neg`` jumps from 0.1 to 0.4 in the fourth window):

    >>> counts = pd.DataFrame({"neg": [10, 10, 10, 40], "pos": [90, 90, 90, 60]})
    >>> alert_table(counts, "neg", history=3)["alert"].tolist()
    [False, False, False, True]
    """
    if label not in counts.columns:
        raise KeyError(
            f"label {label!r} is not a column of counts; its columns: "
            f"{list(counts.columns)}"
        )
    if history < 1 or min_count < 1 or min_jump < 0 or z < 0:
        raise ValueError(
            f"expected history >= 1, min_count >= 1, min_jump >= 0 and z >= 0, "
            f"found {history}, {min_count}, {min_jump} and {z}"
        )
    n = counts.sum(axis=1).to_numpy()
    hits = counts[label].to_numpy()
    rows, normal = [], []  # normal: windows that raised no alert, the baseline's pool
    for t in range(len(counts)):
        share = hits[t] / n[t] if n[t] else math.nan
        recent = normal[-history:]
        pooled = sum(n[s] for s in recent)
        baseline = (
            sum(hits[s] for s in recent) / pooled
            if len(recent) == history and pooled
            else math.nan
        )
        threshold = (
            max(min_jump, z * math.sqrt(baseline * (1 - baseline) / n[t]))
            if n[t]
            else math.nan
        )
        alert = bool(
            n[t] >= min_count
            and not math.isnan(baseline)
            and share - baseline >= threshold
        )
        rows.append(
            {
                "n": int(n[t]),
                "share": share,
                "baseline": baseline,
                "jump": share - baseline,
                "threshold": threshold,
                "alert": alert,
            }
        )
        if not alert and n[t]:
            normal.append(t)
    return pd.DataFrame(rows, index=counts.index)


def population_stability_index(
    reference: Sequence[float], current: Sequence[float], eps: float = 1e-4
) -> float:
    """How far a distribution moved: ``PSI = sum_i (c_i - r_i) ln(c_i / r_i)`` over
    shared bins.

    ``reference`` and ``current`` are counts (or shares) of the same bins, e.g. of
    predicted labels, or of text lengths binned at the reference's quantiles; each is
    normalised to shares and a share of 0 is raised to ``eps`` so that the logarithm is
    finite. PSI is 0 for identical distributions and grows as they part; a common rule
    of thumb reads < 0.1 as stable and > 0.25 as a shift worth investigating.

    Example:

    >>> round(population_stability_index([50, 50], [80, 20]), 2)
    0.42
    """
    r, c = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    if r.shape != c.shape or r.ndim != 1 or len(r) < 2:
        raise ValueError(
            "expected two 1-D arrays of the same bins (at least 2), found shapes "
            f"{r.shape} and {c.shape}"
        )
    if (r < 0).any() or (c < 0).any() or r.sum() == 0 or c.sum() == 0:
        raise ValueError(
            "expected non-negative counts with a positive total in both distributions"
        )
    r, c = np.maximum(r / r.sum(), eps), np.maximum(c / c.sum(), eps)
    return float(np.sum((c - r) * np.log(c / r)))
