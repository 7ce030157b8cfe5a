"""tutorialkit.monitor: windows of predictions, shares, the alert rule, PSI."""

import math

import numpy as np
import pandas as pd
import pytest

from tutorialkit.monitor import (
    alert_table,
    population_stability_index,
    window_counts,
    window_shares,
)


def test_window_counts_groups_by_window_and_keeps_empty_windows():
    times = [
        "2024-01-01 09:10",
        "2024-01-01 09:50",
        "2024-01-01 11:05",
        "2024-01-01 09:30",
    ]
    counts = window_counts(
        times, ["neg", "pos", "neg", "neg"], "1h", label_order=["neg", "neu", "pos"]
    )
    assert list(counts.columns) == ["neg", "neu", "pos"]
    assert [str(t) for t in counts.index] == [
        "2024-01-01 09:00:00",
        "2024-01-01 10:00:00",
        "2024-01-01 11:00:00",
    ]
    assert counts.to_numpy().tolist() == [[2, 0, 1], [0, 0, 0], [1, 0, 0]]


def test_window_counts_reads_series_by_position():
    """Columns of a resampled frame (a repeated, unordered index) count as lists."""
    times = ["2024-01-01 09:10", "2024-01-01 11:05", "2024-01-01 09:30"]
    labels = ["neg", "pos", "pos"]
    index = [7, 7, 2]
    from_series = window_counts(
        pd.Series(pd.to_datetime(times), index=index), pd.Series(labels, index=index)
    )
    pd.testing.assert_frame_equal(from_series, window_counts(times, labels))
    assert from_series.to_numpy().tolist() == [[1, 1], [0, 0], [0, 1]]


@pytest.mark.parametrize(
    "times, labels, options, message",
    [
        pytest.param(
            ["2024-01-01"],
            ["neg", "pos"],
            {},
            "one timestamp per label",
            id="a-time-too-few",
        ),
        pytest.param(
            ["2024-01-01", "2024-01-02"],
            ["neg", "pos"],
            {"label_order": ["neg"]},
            r"labels \['pos'\] are not in label_order",
            id="label-not-in-the-order",
        ),
        pytest.param([], [], {}, "at least one prediction", id="nothing"),
    ],
)
def test_window_counts_refuses_bad_input(times, labels, options, message):
    with pytest.raises(ValueError, match=message):
        window_counts(times, labels, **options)


def test_window_shares_sum_to_one_and_empty_windows_have_none():
    shares = window_shares(pd.DataFrame({"neg": [1, 0], "pos": [3, 0]}))
    assert shares.iloc[0].tolist() == [0.25, 0.75]
    assert shares.iloc[1].isna().all()


def _stream(negatives, size=100):
    return pd.DataFrame({"negative": negatives, "other": [size - k for k in negatives]})


def test_alert_rule_fires_on_a_jump_and_the_incident_is_not_its_own_baseline():
    counts = _stream([20, 20, 20, 20, 45, 45, 20])
    table = alert_table(
        counts, "negative", history=3, min_jump=0.1, z=2.0, min_count=20
    )
    assert table.alert.tolist() == [False, False, False, False, True, True, False]
    # three windows of history are needed first
    assert math.isnan(table.baseline.iloc[2])
    # window 4 alerted: not in the baseline
    assert table.baseline.iloc[5] == pytest.approx(0.2)
    assert table.threshold.iloc[4] == pytest.approx(
        max(0.1, 2 * math.sqrt(0.2 * 0.8 / 100))
    )


def test_alert_rule_ignores_jumps_within_noise_or_small_windows():
    # 10 texts a window
    small = pd.DataFrame({"negative": [2, 2, 2, 6], "other": [8, 8, 8, 4]})
    # too few texts
    assert not alert_table(small, "negative", history=3, min_count=20).alert.any()
    noisy = alert_table(small, "negative", history=3, min_count=1, min_jump=0.0, z=2.0)
    assert noisy.threshold.iloc[3] == pytest.approx(2 * math.sqrt(0.2 * 0.8 / 10))
    assert noisy.alert.tolist() == [False, False, False, True]  # 0.6 - 0.2 > 0.253
    # 0.4 < 0.443
    assert not alert_table(small, "negative", history=3, min_count=1, z=3.5).alert.any()


def test_alert_rule_refuses_bad_settings():
    with pytest.raises(KeyError, match="'neg' is not a column"):
        alert_table(_stream([1]), "neg")
    with pytest.raises(ValueError, match="history >= 1"):
        alert_table(_stream([1]), "negative", history=0)


def test_population_stability_index():
    assert population_stability_index([50, 50], [50, 50]) == 0.0
    expected = 0.3 * np.log(0.8 / 0.5) - 0.3 * np.log(0.2 / 0.5)
    assert population_stability_index([50, 50], [80, 20]) == pytest.approx(expected)
    # counts or shares
    assert population_stability_index([5, 5], [0.8, 0.2]) == pytest.approx(expected)
    # an empty bin stays finite
    assert math.isfinite(population_stability_index([10, 0], [5, 5]))
    with pytest.raises(ValueError, match="same bins"):
        population_stability_index([1, 2], [1, 2, 3])
