"""tutorialkit.plots.plot_curves: loss, perplexity and learning-rate curves."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tutorialkit.plots import plot_curves  # noqa: E402


def test_plot_curves_draws_one_labelled_line_per_curve_and_the_references():
    ax = plot_curves(
        {"SGD": [3, 2, 1], "AdamW": ([0, 10, 20], [3, 1, 0.5])},
        references={"uniform model": 4.0},
        title="t",
        ylabel="perplexity",
    )
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["SGD", "AdamW", "uniform model"]
    assert list(ax.get_lines()[1].get_xdata()) == [0, 10, 20]
    assert list(ax.get_lines()[2].get_ydata()) == [4.0, 4.0]
    assert ax.get_ylabel() == "perplexity" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    plt.close(ax.figure)


def test_plot_curves_smooths_with_a_trailing_mean_and_keeps_the_raw_curve():
    ax = plot_curves({"loss": [4.0, 2.0, 0.0, 2.0]}, smooth=2, logy=False)
    raw, smoothed = ax.get_lines()
    assert list(raw.get_ydata()) == [4.0, 2.0, 0.0, 2.0]
    assert list(smoothed.get_ydata()) == [4.0, 3.0, 1.0, 1.0]
    assert raw.get_color() == smoothed.get_color() and smoothed.get_label() == "loss"
    plt.close(ax.figure)


def test_plot_curves_leaves_gaps_for_a_diverged_run_and_draws_on_a_log_scale():
    ax = plot_curves(
        {"Adam 1e-3": [1.0, float("inf"), float("nan"), 2.0]}, smooth=2, logy=True
    )
    raw, smoothed = ax.get_lines()
    assert math.isnan(raw.get_ydata()[1]) and math.isnan(raw.get_ydata()[2])
    smoothed_y = list(smoothed.get_ydata())
    assert (
        smoothed_y[:2] == [1.0, 1.0]
        and math.isnan(smoothed_y[2])
        and smoothed_y[3] == 2.0
    )
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)


def test_plot_curves_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one curve"):
        plot_curves({})
    with pytest.raises(ValueError, match="smooth must be"):
        plot_curves({"a": [1, 2]}, smooth=0)
    with pytest.raises(ValueError, match="curve 'a': 3 x values but 2 y values"):
        plot_curves({"a": ([0, 1, 2], [1, 2])})
    plt.close("all")
