"""Pictures of a run as PNG files: training curves, confusion matrix, prediction grid.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot: no display, no global
figure state), written with incept's one atomic writer, so a reader never sees half a PNG. Nothing time-dependent is drawn or stored in the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from incept.compiler.files import write_atomic

TRAIN, TEST, WRONG = "tab:blue", "tab:orange", "tab:red"
Row = Mapping[str, float | str]  # one metrics.csv row: numbers, or strings from csv.DictReader


def plot_curves(
    rows: Sequence[Row], path: Path, *, title: str = "Training curves", ema: float = 0.0
) -> None:
    """Loss and accuracy (fractions in [0, 1]) per epoch, train and test, from metrics.csv rows;
    with `ema` the title says that the test curves are the averaged weights'.

    Values may be strings as csv.DictReader gives them; empty or missing ones are skipped.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    _curve_panel(loss_ax, rows, "loss")
    _curve_panel(acc_ax, rows, "acc")
    loss_ax.set_title("loss")
    best = _mark_best(acc_ax, _points(rows, "test_acc"))
    acc_ax.set_title(f"accuracy ({best})" if best else "accuracy")
    acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    fig.suptitle(f"{title} (test: the averaged weights, ema {ema:g})" if ema else title)
    _save(fig, path)


def plot_confusion(
    confusion: np.ndarray, classes: Sequence[str], path: Path, *, title: str = "Confusion matrix"
) -> None:
    """Counts in the cells, colour = share of the true class (row-normalised)."""
    counts = np.asarray(confusion, np.int64)
    k = len(classes)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    side = min(4 + 0.55 * k, 30)
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    if k <= 60:  # beyond that names would overlap: the colour alone tells the story
        ticks = np.arange(k)
        ax.set_xticks(ticks, classes, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(ticks, classes)
    if k <= 25:
        _annotate_counts(ax, counts, share)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else math.nan
    ax.set_title(f"{title}\n{total} images, accuracy {accuracy:.2%}")
    _save(fig, path)


def plot_predictions(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    path: Path,
    n: int = 32,
    *,
    title: str = "Test predictions (top 3)",
) -> None:
    """The first n images (N x H x W x C uint8), each titled with its true class and top-3
    predictions; wrong top-1 predictions get a red title and frame."""
    probs, labels, n = np.asarray(probs), np.asarray(labels), min(n, len(images))
    fig, axes = _grid(n, cell=(1.9, 2.45))
    for i, ax in enumerate(axes):
        if i < n:
            _draw_prediction(ax, images[i], int(labels[i]), probs[i], classes)
        else:
            ax.set_axis_off()
    wrong = int(np.sum(np.argmax(probs[:n], axis=1) != labels[:n])) if n else 0
    fig.suptitle(f"{title}: {n - wrong} of {n} right, wrong ones in red")
    _save(fig, path)


def plot_batch(
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    path: Path,
    *,
    title: str = "The first training batch as the model sees it (augmented)",
) -> None:
    """Images (N x H x W x C uint8) in a grid of 8 columns, each with its class."""
    n = len(images)
    fig, axes = _grid(n, cell=(1.6, 1.8))
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            _show(ax, images[i])
            ax.set_title(_short(classes[int(labels[i])]), fontsize=8)
    fig.suptitle(f"{title}: {n} images")
    _save(fig, path)


#: Legend labels: the two losses are not the same quantity, and the legend says so.
_LABELS = {
    ("train", "loss"): "train (augmented; + weighted aux losses, label smoothing)",
    ("test", "loss"): "test (main head, plain cross-entropy)",
    ("train", "acc"): "train (augmented batches, while learning)",
}


def _curve_panel(ax: Axes, rows: Sequence[Row], metric: str) -> None:
    """train_<metric> and test_<metric> against the epoch."""
    for split, colour in (("train", TRAIN), ("test", TEST)):
        points = _points(rows, f"{split}_{metric}")
        if points:
            xs, ys = zip(*points, strict=True)
            marker = "o" if len(points) <= 40 else None
            label = _LABELS.get((split, metric), split)
            ax.plot(xs, ys, color=colour, marker=marker, markersize=3, label=label)
    epochs = [e for e, _ in _points(rows, "epoch")]
    if epochs:  # half an epoch of margin: a single epoch still gets a sensible axis
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend()


def _mark_best(ax: Axes, points: list[tuple[float, float]]) -> str:
    """Star the best (earliest on ties) test accuracy; describe it ("" if there is none)."""
    if not points:
        return ""
    epoch, value = max(points, key=lambda p: (p[1], -p[0]))
    ax.plot([epoch], [value], marker="*", markersize=14, color=TEST, linestyle="none")
    return f"best test {value:.2%} at epoch {epoch:g}"


def _points(rows: Sequence[Row], key: str) -> list[tuple[float, float]]:
    """(epoch, value) for the rows that have both as numbers."""
    pairs = ((_number(r, "epoch"), _number(r, key)) for r in rows)
    return [(e, v) for e, v in pairs if not (math.isnan(e) or math.isnan(v))]


def _annotate_counts(ax: Axes, counts: np.ndarray, share: np.ndarray) -> None:
    size = 9 if len(counts) <= 12 else 7
    for (row, col), count in np.ndenumerate(counts):
        if count:
            colour = "white" if share[row, col] > 0.5 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=size)


def _draw_prediction(
    ax: Axes, image: np.ndarray, label: int, probs: np.ndarray, classes: Sequence[str]
) -> None:
    top = np.argsort(-probs, kind="stable")[:3]
    wrong = int(top[0]) != label
    _show(ax, image)
    colour = WRONG if wrong else "black"
    lines = [f"{_short(classes[c])} {probs[c]:.0%}" for c in top]
    ax.set_title("\n".join(lines), fontsize=8, color=colour, loc="left")
    ax.set_xlabel(f"true: {_short(classes[label])}", fontsize=8, color=colour, weight="bold")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(wrong)
        spine.set_color(WRONG)
        spine.set_linewidth(3)


def _grid(n: int, cell: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of n image cells (width, height in inches), 8 columns, at least 4 wide so
    that the title fits above one image; its axes, flat."""
    cols = min(8, max(n, 4))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(cell[0] * cols, cell[1] * rows + 0.5), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False).ravel()


def _show(ax: Axes, image: np.ndarray) -> None:
    """A uint8 image, grey (H x W or H x W x 1) or RGB, at its true levels."""
    grey = image.ndim == 2 or image.shape[-1] == 1
    ax.imshow(
        image.squeeze(-1) if image.ndim == 3 and grey else image,
        cmap="gray" if grey else None,
        vmin=0,
        vmax=255,
    )


def _short(name: str, limit: int = 16) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _number(row: Row, key: str) -> float:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return math.nan


def _save(fig: Figure, path: Path) -> None:
    """Write the PNG atomically (incept's one writer: umask mode, os.replace)."""
    FigureCanvasAgg(fig)
    # No "Software" entry: the bytes depend on the figure alone, not the version.
    write_atomic(
        Path(path), lambda out: fig.savefig(out, format="png", dpi=100, metadata={"Software": None})
    )
