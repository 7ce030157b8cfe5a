"""Figures used across the book, drawn with matplotlib so they render offline and in Colab."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import networkx as nx


def concept_map(
    edges: Sequence[tuple[str, str]],
    *,
    direction: str = "LR",
    ax: plt.Axes | None = None,
    title: str | None = None,
    highlight: Sequence[str] = (),
) -> plt.Axes:
    """Draw a directed graph of concepts as boxes and arrows, layered like a flow chart.

    Nodes are placed in columns (``direction="LR"``) or rows (``"TB"``) by their longest
    distance from a source node, so every arrow points forward. ``highlight`` names nodes drawn
    in the accent colour. The graph must be acyclic.
    Example: ``concept_map([("Pre-training", "Fine-tuning")], title="The two stages")``.
    """
    if direction not in ("LR", "TB"):
        raise ValueError(f"direction must be 'LR' or 'TB', got {direction!r}")
    graph = nx.DiGraph(list(edges))
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError(f"concept_map needs an acyclic graph; cycle found: {nx.find_cycle(graph)}")
    pos = _layered_positions(graph)
    if direction == "TB":
        pos = {node: (y, -x) for node, (x, y) in pos.items()}
    xs, ys = zip(*pos.values())
    if ax is None:
        span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
        _, ax = plt.subplots(figsize=(2.4 * span_x + 2.4, 0.9 * span_y + 1.2))
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    boxes = {}
    for node, (x, y) in pos.items():
        colour = "#fde2b8" if node in highlight else "#dbe9f6"
        boxes[node] = ax.text(
            x, y, node, ha="center", va="center", fontsize=10, zorder=3,
            bbox=dict(boxstyle="round,pad=0.4", facecolor=colour, edgecolor="#3b5b7a"),
        )
    ax.figure.canvas.draw()  # the boxes' sizes are known only once drawn
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    half = {}
    for node, box in boxes.items():
        (x0, y0), (x1, y1) = to_data.transform(box.get_bbox_patch().get_window_extent(renderer).get_points())
        half[node] = ((x1 - x0) / 2, (y1 - y0) / 2)
    for source, target in graph.edges:
        start, end = _clip_to_boxes(pos[source], pos[target], half[source], half[target])
        ax.annotate("", xy=end, xytext=start, zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="#3b5b7a", lw=1.2, shrinkA=0, shrinkB=1))
    if title:
        ax.set_title(title)
    return ax


def _layered_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Column = longest path from a source; order within a column by the mean row of the parents."""
    layer: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        layer[node] = max((layer[p] + 1 for p in graph.predecessors(node)), default=0)
    row: dict[str, float] = {}
    for index in range(max(layer.values()) + 1):
        column = [n for n in graph.nodes if layer[n] == index]  # insertion order breaks ties
        column.sort(key=lambda n: -sum(row[p] for p in graph.predecessors(n)) / max(graph.in_degree(n), 1))
        for i, node in enumerate(column):
            row[node] = (len(column) - 1) / 2 - i
    return {node: (float(layer[node]), row[node]) for node in graph.nodes}


def _clip_to_boxes(a, b, half_a, half_b):
    """Move the ends of the segment a->b from the box centres to the box borders."""
    dx, dy = b[0] - a[0], b[1] - a[1]

    def exit_fraction(h):  # fraction of the segment inside a box of half-size h at one end
        return min(h[0] / abs(dx) if dx else float("inf"), h[1] / abs(dy) if dy else float("inf"))

    ta, tb = exit_fraction(half_a), 1 - exit_fraction(half_b)
    return (a[0] + ta * dx, a[1] + ta * dy), (a[0] + tb * dx, a[1] + tb * dy)
