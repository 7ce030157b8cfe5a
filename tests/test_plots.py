"""tutorialkit.plots: concept maps."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from tutorialkit.plots import concept_map  # noqa: E402

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


def test_concept_map_rejects_cycles_and_bad_directions():
    with pytest.raises(ValueError, match="acyclic"):
        concept_map([("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="'LR' or 'TB'"):
        concept_map(EDGES, direction="RL")
