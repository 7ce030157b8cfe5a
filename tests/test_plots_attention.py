"""tutorialkit.plots.attention_heatmap: one head's weights with tokens on the axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tutorialkit.plots import attention_heatmap  # noqa: E402

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


def test_heatmap_rejects_weights_that_do_not_match_the_tokens():
    with pytest.raises(
        ValueError, match=r"expected weights of shape \(4, 4\).*found \(4, 3\)"
    ):
        attention_heatmap(np.zeros((4, 3)), TOKENS)
    with pytest.raises(ValueError, match=r"expected weights of shape \(2, 4\)"):
        attention_heatmap(np.zeros((4, 4)), ["a", "b"], key_tokens=TOKENS)
