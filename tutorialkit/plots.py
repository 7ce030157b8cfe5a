"""Figures used across the book, drawn with matplotlib so they render offline and in Colab."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np


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


def attention_heatmap(
    weights,
    tokens: Sequence[str],
    *,
    key_tokens: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    ticks: bool = True,
) -> plt.Axes:
    """Draw one head's attention weights as a heatmap: row i is where query token i looks.

    ``weights`` is an ``(n_q, n_k)`` array or tensor whose rows sum to 1 (one head, one sequence);
    ``tokens`` label the rows (queries) and ``key_tokens`` the columns (keys; default ``tokens``,
    as in self-attention). The colour scale is fixed to [0, 1], so heatmaps drawn side by side are
    comparable; ``ax.images[0]`` can feed a shared colour bar. ``ticks=False`` hides the labels.
    Example: ``attention_heatmap(out.attentions[0][0, 3], tokenizer.convert_ids_to_tokens(ids))``.
    """
    if hasattr(weights, "detach"):
        weights = weights.detach().float().cpu().numpy()
    weights = np.asarray(weights)
    key_tokens = tokens if key_tokens is None else key_tokens
    expected = (len(tokens), len(key_tokens))
    if weights.shape != expected:
        raise ValueError(
            f"attention_heatmap: expected weights of shape {expected} (query tokens, key tokens), "
            f"found {weights.shape}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.3 * expected[1] + 1.5, 0.3 * expected[0] + 1.2))
    ax.imshow(weights, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    if ticks:
        ax.set_xticks(range(expected[1]), key_tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(expected[0]), tokens, fontsize=8)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query (attending)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_curves(
    curves: dict[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    *,
    ax: plt.Axes | None = None,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    smooth: int = 1,
    logy: bool = False,
    references: dict[str, float] | None = None,
) -> plt.Axes:
    """Draw named curves (loss, perplexity, learning rate, ...) against the step on one set of axes.

    Each value of ``curves`` is a sequence of y values (x = 0, 1, 2, ...) or an ``(x, y)`` pair.
    With ``smooth=k > 1`` each curve is drawn faintly as it is and boldly as a trailing mean over
    ``k`` points (noisy mini-batch losses become readable). ``references`` adds dashed horizontal
    lines, e.g. ``{"uniform model": vocab_size}``. Non-finite values (a diverged run) leave gaps.
    Example: ``plot_curves({"AdamW": losses}, smooth=10, title="Training loss")``.
    """
    if not curves:
        raise ValueError("plot_curves needs at least one curve, got an empty dict")
    if smooth < 1:
        raise ValueError(f"smooth must be a window of >= 1 points, got {smooth}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    for name, values in curves.items():
        if isinstance(values, tuple) and len(values) == 2 and all(hasattr(v, "__len__") for v in values):
            x, y = list(values[0]), list(values[1])
        else:
            y = list(values)
            x = list(range(len(y)))
        if len(x) != len(y):
            raise ValueError(f"curve {name!r}: {len(x)} x values but {len(y)} y values")
        y = [float(v) if abs(float(v)) != float("inf") else float("nan") for v in y]
        if smooth == 1:
            ax.plot(x, y, label=name)
            continue
        (raw,) = ax.plot(x, y, alpha=0.25, lw=1)
        means = []
        for i in range(len(y)):
            window = [v for v in y[max(0, i - smooth + 1) : i + 1] if v == v]  # v == v drops nan
            means.append(sum(window) / len(window) if window else float("nan"))
        ax.plot(x, means, color=raw.get_color(), lw=2, label=name)
    for offset, (name, level) in enumerate((references or {}).items()):
        ax.axhline(level, color="grey", ls=("--", ":", "-.")[offset % 3], lw=1, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
