"""Figures used across the book, drawn with matplotlib so they render offline and in
Colab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from tutorialkit.metrics import calibration_bins

if TYPE_CHECKING:
    from tutorialkit.train import History


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
    distance from a source node, so every arrow points forward. ``highlight`` names
    nodes drawn in the accent colour. The graph must be acyclic.

    Example:

    >>> concept_map([("Pre-training", "Fine-tuning")], title="The two stages")
    <Axes: title={'center': 'The two stages'}>
    """
    if direction not in ("LR", "TB"):
        raise ValueError(f"direction must be 'LR' or 'TB', got {direction!r}")
    graph = nx.DiGraph(list(edges))
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError(
            f"concept_map needs an acyclic graph; cycle found: {nx.find_cycle(graph)}"
        )
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
            x,
            y,
            node,
            ha="center",
            va="center",
            fontsize=10,
            zorder=3,
            bbox=dict(boxstyle="round,pad=0.4", facecolor=colour, edgecolor="#3b5b7a"),
        )
    half = _half_sizes(ax, boxes)
    for source, target in graph.edges:
        start, end = _clip_to_boxes(
            pos[source], pos[target], half[source], half[target]
        )
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            zorder=2,
            arrowprops=dict(
                arrowstyle="-|>", color="#3b5b7a", lw=1.2, shrinkA=0, shrinkB=1
            ),
        )
    if title:
        ax.set_title(title)
    return ax


def _half_sizes(ax: plt.Axes, boxes: dict) -> dict[str, tuple[float, float]]:
    """Half the width and height of each text box, in data coordinates."""
    ax.figure.canvas.draw()  # the boxes' sizes are known only once drawn
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    half = {}
    for node, box in boxes.items():
        (x0, y0), (x1, y1) = to_data.transform(
            box.get_bbox_patch().get_window_extent(renderer).get_points()
        )
        half[node] = ((x1 - x0) / 2, (y1 - y0) / 2)
    return half


def _layered_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Column = longest path from a source; order within a column by the mean row of the
    parents."""
    layer: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        layer[node] = max((layer[p] + 1 for p in graph.predecessors(node)), default=0)
    row: dict[str, float] = {}
    for index in range(max(layer.values()) + 1):
        # insertion order breaks ties
        column = [n for n in graph.nodes if layer[n] == index]
        column.sort(
            key=lambda n: (
                -sum(row[p] for p in graph.predecessors(n)) / max(graph.in_degree(n), 1)
            )
        )
        for i, node in enumerate(column):
            row[node] = (len(column) - 1) / 2 - i
    return {node: (float(layer[node]), row[node]) for node in graph.nodes}


def _clip_to_boxes(a, b, half_a, half_b):
    """Move the ends of the segment a->b from the box centres to the box borders."""
    dx, dy = b[0] - a[0], b[1] - a[1]

    # fraction of the segment inside a box of half-size h at one end
    def exit_fraction(h):
        return min(
            h[0] / abs(dx) if dx else float("inf"),
            h[1] / abs(dy) if dy else float("inf"),
        )

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
    """Draw one head's attention weights as a heatmap: row i is where query token i
    looks.

    ``weights`` is an ``(n_q, n_k)`` array or tensor whose rows sum to 1 (one head, one
    sequence); ``tokens`` label the rows (queries) and ``key_tokens`` the columns (keys;
    default ``tokens``, as in self-attention). The colour scale is fixed to [0, 1], so
    heatmaps drawn side by side are comparable; ``ax.images[0]`` can feed a shared
    colour bar. ``ticks=False`` hides the labels. Usage, for head 3 of the first layer
    of a transformers model run with ``output_attentions=True``:
    ``attention_heatmap(out.attentions[0][0, 3],
    tokenizer.convert_ids_to_tokens(ids))``.

    Example (each token attends to itself only):

    >>> attention_heatmap(np.eye(3), ["the", "cat", "sat"])
    <Axes: xlabel='key (attended to)', ylabel='query (attending)'>
    """
    if hasattr(weights, "detach"):
        weights = weights.detach().float().cpu().numpy()
    weights = np.asarray(weights)
    key_tokens = tokens if key_tokens is None else key_tokens
    expected = (len(tokens), len(key_tokens))
    if weights.shape != expected:
        raise ValueError(
            f"attention_heatmap: expected weights of shape {expected} (query tokens, "
            "key tokens), "
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
    """Draw named curves (loss, perplexity, learning rate, ...) against the step on one
    set of axes.

    Each value of ``curves`` is a sequence of y values (x = 0, 1, 2, ...) or an ``(x,
    y)`` pair. With ``smooth=k > 1`` each curve is drawn faintly as it is and boldly as
    a trailing mean over ``k`` points (noisy mini-batch losses become readable).
    ``references`` adds dashed horizontal lines, e.g. ``{"uniform model": vocab_size}``.
    Non-finite values (a diverged run) leave gaps.

    Example:

    >>> plot_curves({"AdamW": [3.0, 2.0, 1.5, 1.2]}, smooth=2, title="Training loss")
    <Axes: title={'center': 'Training loss'}, xlabel='step', ylabel='loss'>
    """
    if not curves:
        raise ValueError("plot_curves needs at least one curve, got an empty dict")
    if smooth < 1:
        raise ValueError(f"smooth must be a window of >= 1 points, got {smooth}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    for name, values in curves.items():
        if (
            isinstance(values, tuple)
            and len(values) == 2
            and all(hasattr(v, "__len__") for v in values)
        ):
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
            # v == v drops nan
            window = [v for v in y[max(0, i - smooth + 1) : i + 1] if v == v]
            means.append(sum(window) / len(window) if window else float("nan"))
        ax.plot(x, means, color=raw.get_color(), lw=2, label=name)
    for offset, (name, level) in enumerate((references or {}).items()):
        ax.axhline(
            level, color="grey", ls=("--", ":", "-.")[offset % 3], lw=1, label=name
        )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_history(
    history: History, figsize: tuple[float, float] = (10, 3.5)
) -> plt.Figure:
    """A figure of a training run: loss and learning rate (left), evaluations (right).

    The training loss of every step is drawn faintly, with a running mean over a tenth
    of the steps on top; the learning rate is dashed, on its own axis. Evaluation
    metrics whose name contains "loss" go on the left, with the training loss; the best
    evaluation's step is marked on both panels. Usage: ``plot_history(history);
    plt.show()`` (or ``history.plot()``).
    """
    if not history.train:
        raise ValueError("nothing to plot: the history has no training step")
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    steps = np.array([r["step"] for r in history.train])
    loss = np.array([r["loss"] for r in history.train])
    window = max(1, len(loss) // 10)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    left.plot(
        steps,
        loss,
        color="tab:blue",
        alpha=0.3,
        lw=1,
        label="training loss (each step)",
    )
    left.plot(
        steps[window - 1 :],
        smooth,
        color="tab:blue",
        lw=2,
        label=f"mean of {window} steps",
    )
    lr_axis = left.twinx()
    lr_axis.plot(steps, [r["lr"] for r in history.train], color="grey", ls="--", lw=1)
    lr_axis.set_ylabel("learning rate (dashed)", color="grey")
    left.set(
        xlabel="optimiser step", ylabel="loss", title="Training loss and learning rate"
    )
    right.set(xlabel="optimiser step", ylabel="metric", title="Evaluations")
    eval_steps = [r["step"] for r in history.evals]
    names = [
        k
        for k in (history.evals[0] if history.evals else {})
        if k not in ("step", "epoch")
    ]
    # colour 0 (blue) is the training loss
    for colour, name in enumerate(names, start=1):
        axis = left if "loss" in name else right
        axis.plot(
            eval_steps,
            [r[name] for r in history.evals],
            marker="o",
            color=f"C{colour}",
            label=f"eval {name}",
        )
    best = history.best
    for axis in (left, right):
        if best is not None:
            axis.axvline(
                best["step"], color="black", ls=":", label=f"best {history.metric}"
            )
        # below the panel, where it hides no curve
        if axis.get_legend_handles_labels()[0]:
            axis.legend(
                fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.2)
            )
    return fig


def confusion_heatmap(
    confusion,
    labels: Sequence[str],
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Draw a confusion matrix: row = true class, column = predicted class, coloured by
    row share.

    ``confusion[i, j]`` counts examples of class ``labels[i]`` predicted as
    ``labels[j]`` (as in :class:`tutorialkit.metrics.ClassificationReport`). Each cell
    shows its count and its share of the row; the colour is the share, so a rare class's
    recall is as visible as a frequent one's and the diagonal reads as the recall of
    each class. Usage: ``confusion_heatmap(report.confusion, report.labels,
    title="Test tweets")``.
    """
    import seaborn as sns

    counts = np.asarray(confusion)
    if counts.ndim != 2 or counts.shape != (len(labels), len(labels)):
        raise ValueError(
            "confusion_heatmap: expected a square matrix of shape "
            f"{(len(labels), len(labels))} "
            f"(one row and one column per label), found {counts.shape}"
        )
    if (counts < 0).any():
        raise ValueError(
            "confusion_heatmap: expected counts >= 0, found a negative entry"
        )
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    text = np.array(
        [
            [f"{c}\n{s:.0%}" for c, s in zip(row_c, row_s)]
            for row_c, row_s in zip(counts, shares)
        ]
    )
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.0 * len(labels) + 1))
    sns.heatmap(
        shares,
        vmin=0,
        vmax=1,
        cmap="Blues",
        annot=text,
        fmt="",
        square=True,
        ax=ax,
        xticklabels=list(labels),
        yticklabels=list(labels),
        cbar_kws={"label": "share of the row"},
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(axis="y", rotation=0)
    if title:
        ax.set_title(title)
    return ax


def reliability_diagram(
    probabilities,
    y_true,
    *,
    n_bins: int = 10,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Draw a reliability diagram: accuracy per confidence bin, against the diagonal of
    perfect calibration.

    A dot (the bin's mean confidence) above its bar is over-confidence, below it
    under-confidence; the number on each bar is how many predictions it holds (a bin of
    three examples says little), and the legend gives the ECE (see
    :func:`tutorialkit.metrics.calibration_bins`). Usage:
    ``reliability_diagram(torch.softmax(logits, -1).numpy(), y_test, title="Test
    tweets")``.

    Example:

    >>> reliability_diagram([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=5)
    <Axes: xlabel='confidence (top probability)', ylabel='accuracy'>
    """
    cal = calibration_bins(probabilities, y_true, n_bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    width = cal.edges[1] - cal.edges[0]
    filled = cal.count > 0
    ax.bar(
        cal.edges[:-1][filled],
        cal.accuracy[filled],
        width=width,
        align="edge",
        color="#9ecae1",
        edgecolor="#3b5b7a",
        label=f"accuracy (ECE {cal.ece:.3f})",
    )
    ax.plot(
        cal.edges[:-1][filled] + width / 2,
        cal.confidence[filled],
        "o",
        color="#d6604d",
        ms=5,
        label="mean confidence of the bin",
    )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfectly calibrated")
    for left, acc, n in zip(
        cal.edges[:-1][filled], cal.accuracy[filled], cal.count[filled]
    ):
        ax.text(
            left + width / 2, min(acc + 0.02, 0.97), str(n), ha="center", fontsize=7
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (top probability)",
        ylabel="accuracy",
    )
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return ax
