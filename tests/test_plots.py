"""tutorialkit.plots: concept maps, attention heatmaps, curves, classification plots."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from tutorialkit.plots import (  # noqa: E402
    attention_heatmap,
    concept_map,
    confusion_heatmap,
    plot_curves,
    reliability_diagram,
)

# --- concept_map
# ---------------------------------------------------------------------------

EDGES = [
    ("Pre-training", "Fine-tuning"),
    ("Fine-tuning", "Full"),
    ("Fine-tuning", "PEFT"),
    ("Pre-training", "Prompting"),
]


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_concept_map_draws_one_box_per_node_and_one_arrow_per_edge(direction):
    ax = concept_map(EDGES, direction=direction, title="t")
    arrows = [c for c in ax.get_children() if isinstance(c, Annotation)]
    boxes = [t for t in ax.texts if not isinstance(t, Annotation)]
    assert sorted(b.get_text() for b in boxes) == sorted({n for e in EDGES for n in e})
    assert len(arrows) == len(EDGES)
    plt.close(ax.figure)


def test_concept_map_flows_forward():
    ax = concept_map(EDGES, direction="LR")
    x = {
        t.get_text(): t.get_position()[0]
        for t in ax.texts
        if not isinstance(t, Annotation)
    }
    assert all(x[a] < x[b] for a, b in EDGES)
    plt.close(ax.figure)


# --- attention_heatmap
# ---------------------------------------------------------------------------

TOKENS = ["[CLS]", "the", "cat", "[SEP]"]


def test_heatmap_draws_the_weights_with_tokens_on_both_axes():
    weights = torch.softmax(torch.randn(4, 4), dim=-1)
    ax = attention_heatmap(weights, TOKENS, title="layer 0, head 3")
    image = ax.images[0].get_array()
    assert np.allclose(image, weights.numpy())
    assert ax.images[0].get_clim() == (0.0, 1.0)  # comparable across heads
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert ax.get_title() == "layer 0, head 3"
    plt.close(ax.figure)


def test_heatmap_for_cross_attention_and_without_ticks():
    fig, (left, right) = plt.subplots(1, 2)
    attention_heatmap(np.full((2, 4), 0.25), ["a", "b"], key_tokens=TOKENS, ax=left)
    assert [t.get_text() for t in left.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in left.get_yticklabels()] == ["a", "b"]
    attention_heatmap(
        np.full((2, 4), 0.25), ["a", "b"], key_tokens=TOKENS, ax=right, ticks=False
    )
    assert right.get_xticks().size == 0 and right.get_yticks().size == 0
    plt.close(fig)


# --- plot_curves
# ---------------------------------------------------------------------------


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


# --- confusion matrices and reliability diagrams
# ---------------------------------------------------------------------------


def test_confusion_heatmap_colours_by_row_share_and_writes_counts():
    # the last class never occurs
    confusion = np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]])
    ax = confusion_heatmap(confusion, ["neg", "neu", "pos"], title="t")
    shares = ax.collections[0].get_array().reshape(3, 3)
    assert np.allclose(shares, [[0.8, 0.2, 0], [0.5, 0.5, 0], [0, 0, 0]])
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["8\n80%", "2\n20%", "0\n0%"] and texts[3] == "1\n50%"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["neg", "neu", "pos"]
    assert (
        ax.get_xlabel() == "predicted"
        and ax.get_ylabel() == "true"
        and ax.get_title() == "t"
    )
    plt.close(ax.figure)


def test_reliability_diagram_draws_the_filled_bins_and_the_diagonal():
    ax = reliability_diagram(
        [[0.9, 0.1], [0.7, 0.3], [0.65, 0.35]], [0, 1, 0], n_bins=5, title="t"
    )
    heights = sorted(bar.get_height() for bar in ax.patches)
    # two filled bins: (.6, .8] half right, (.8, 1] right
    assert heights == pytest.approx([0.5, 1.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert (
        any(label.startswith("accuracy (ECE ") for label in labels)
        and "perfectly calibrated" in labels
    )
    assert ax.get_title() == "t"
    plt.close(ax.figure)


# --- bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(
            lambda: concept_map([("a", "b"), ("b", "a")]),
            "acyclic",
            id="concept_map-cycle",
        ),
        pytest.param(
            lambda: concept_map(EDGES, direction="RL"),
            "'LR' or 'TB'",
            id="concept_map-direction",
        ),
        pytest.param(
            lambda: attention_heatmap(np.zeros((4, 3)), TOKENS),
            r"expected weights of shape \(4, 4\).*found \(4, 3\)",
            id="attention_heatmap-self-attention-shape",
        ),
        pytest.param(
            lambda: attention_heatmap(np.zeros((4, 4)), ["a", "b"], key_tokens=TOKENS),
            r"expected weights of shape \(2, 4\)",
            id="attention_heatmap-cross-attention-shape",
        ),
        pytest.param(
            lambda: plot_curves({}), "at least one curve", id="plot_curves-no-curve"
        ),
        pytest.param(
            lambda: plot_curves({"a": [1, 2]}, smooth=0),
            "smooth must be",
            id="plot_curves-smooth-0",
        ),
        pytest.param(
            lambda: plot_curves({"a": ([0, 1, 2], [1, 2])}),
            "curve 'a': 3 x values but 2 y values",
            id="plot_curves-x-and-y-lengths",
        ),
        pytest.param(
            lambda: confusion_heatmap(np.eye(3, dtype=int), ["a", "b"]),
            r"expected a square matrix of shape \(2, 2\).*found \(3, 3\)",
            id="confusion_heatmap-shape",
        ),
        pytest.param(
            lambda: confusion_heatmap(np.array([[1, -1], [0, 1]]), ["a", "b"]),
            "negative",
            id="confusion_heatmap-negative-count",
        ),
    ],
)
def test_plots_reject_bad_input_saying_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    plt.close("all")
