"""tutorialkit.plots: confusion-matrix heatmap, calibration bins and the reliability
diagram."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tutorialkit.plots import calibration_bins, confusion_heatmap, reliability_diagram  # noqa: E402


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


def test_confusion_heatmap_rejects_a_matrix_that_does_not_match_the_labels():
    with pytest.raises(
        ValueError, match=r"expected a square matrix of shape \(2, 2\).*found \(3, 3\)"
    ):
        confusion_heatmap(np.eye(3, dtype=int), ["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        confusion_heatmap(np.array([[1, -1], [0, 1]]), ["a", "b"])


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


def test_calibration_bins_rejects_logits_and_mismatched_labels():
    with pytest.raises(ValueError, match="sum to 1"):
        calibration_bins([[2.0, 0.5]], [0])
    with pytest.raises(
        ValueError, match=r"expected probabilities of shape \(n, K\) and n labels"
    ):
        calibration_bins([[0.5, 0.5]], [0, 1])


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
