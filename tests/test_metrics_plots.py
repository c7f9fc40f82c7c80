"""Metrics on hand-made probabilities, and the PNGs the plots write."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from incept.runtime.metrics import score, summarize, topk_correct

# Four images, three classes: rows 0 and 2 right, row 1 predicts c for b, row 3 a for c.
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.10, 0.30, 0.60],
        [0.20, 0.50, 0.30],
        [0.50, 0.25, 0.25],
    ]
)
LABELS = np.array([0, 1, 1, 2])


def test_summarize_exact_values():
    s = summarize(PROBS, LABELS, ["a", "b", "c"])
    assert s.count == 4
    assert s.top1 == 0.5
    assert s.top5 == 1.0  # top-3 with three classes
    assert s.loss == pytest.approx(
        -(math.log(0.7) + math.log(0.3) + math.log(0.5) + math.log(0.25)) / 4
    )
    assert s.per_class == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert s.confusion.dtype == np.int64
    assert s.confusion.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]


def test_a_perfect_test_set_has_loss_zero_not_minus_zero():
    """Every true class at probability 1.0: the epoch line printed "-0.0000"."""
    loss = score(np.array([[0.0, 80.0], [90.0, 0.0]]), np.array([1, 0]))["loss"]
    assert (loss, math.copysign(1.0, loss), f"{loss:.4f}") == (0.0, 1.0, "0.0000")


def test_topk_ties_go_to_the_lower_class_index():
    assert topk_correct(PROBS, LABELS, 1) == 2
    # Row 3 ties b and c at 0.25: b (index 1) takes the second place, so c misses top-2.
    assert topk_correct(PROBS, LABELS, 2) == 3
    assert topk_correct(PROBS, LABELS, 3) == 4


def test_top5_misses_a_label_ranked_sixth():
    probs = np.array([[0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05]] * 2)
    s = summarize(probs, np.array([5, 4]), list("abcdefg"))
    assert (s.top1, s.top5) == (0.0, 0.5)


def test_a_class_without_images_and_a_zero_probability_stay_json_ready():
    probs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    s = summarize(probs, np.array([0, 1]), ["a", "b", "c"])
    assert s.loss == pytest.approx(-math.log(1e-12) / 2)  # finite: the zero is floored
    assert math.isnan(s.per_class["c"])
    d = json.loads(json.dumps(s.as_dict(), allow_nan=False))
    assert d == {
        "count": 2,
        "top1": 0.5,
        "top5": 1.0,
        "loss": s.loss,
        "per_class": {"a": 1.0, "b": 0.0, "c": None},
        "confusion": [[1, 0, 0], [1, 0, 0], [0, 0, 0]],
    }


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        (PROBS[:, :2], LABELS, "N x 3"),
        (PROBS, LABELS[:3], "class indices"),
        (PROBS[:0], LABELS[:0], "class indices"),
        (PROBS, np.array([0, 1, 3, 2]), r"0\.\.2"),
    ],
)
def test_bad_shapes_and_labels_are_refused(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        summarize(probs, labels, ["a", "b", "c"])


# --- plots -------------------------------------------------------------------------------

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from incept.runtime import plots  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
CLASSES += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
RED = np.array([214, 39, 40])  # matplotlib's tab:red, the colour of a wrong prediction


def _png(path) -> np.ndarray:
    """The PNG's RGB pixels, after checking its signature and that nothing else was left."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _csv_rows(epochs: int) -> list[dict[str, str]]:
    """Rows as csv.DictReader gives them: every value a string."""
    buf = io.StringIO()
    fields = ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for e in range(1, epochs + 1):
        acc = 0.9 - 0.5 / e
        writer.writerow(
            dict(zip(fields, [e, 0.1, 1 / e, acc, 1.1 / e, acc - 0.02, 900], strict=True))
        )
    return list(csv.DictReader(io.StringIO(buf.getvalue())))


def test_curves_png(tmp_path):
    path = tmp_path / "curves.png"
    plots.plot_curves(_csv_rows(12), path)
    assert _png(path).shape == (420, 1100, 3)
    first = path.read_bytes()
    plots.plot_curves(_csv_rows(12), path)  # deterministic: the same bytes again
    assert path.read_bytes() == first


def test_curves_of_averaged_weights_say_so(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    titles: list[str] = []
    suptitle = Figure.suptitle
    monkeypatch.setattr(
        Figure, "suptitle", lambda f, t, **k: titles.append(t) or suptitle(f, t, **k)
    )
    plots.plot_curves(_csv_rows(3), tmp_path / "plain.png")
    plots.plot_curves(_csv_rows(3), tmp_path / "ema.png", ema=0.999)
    assert titles == ["Training curves", "Training curves (test: the averaged weights, ema 0.999)"]
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "ema.png").read_bytes()


def test_curves_tolerate_one_epoch_and_missing_test_columns(tmp_path):
    rows = [{"epoch": 1.0, "lr": 0.1, "train_loss": 0.9, "train_acc": 0.6, "test_acc": ""}]
    plots.plot_curves(rows, tmp_path / "one.png")
    assert _png(tmp_path / "one.png").shape == (420, 1100, 3)


def test_confusion_png(tmp_path):
    confusion = np.diag(np.full(10, 90)) + np.eye(10, k=1, dtype=np.int64) * 10
    confusion[9, 9] = 0  # a class with no images must not divide by zero
    path = tmp_path / "confusion.png"
    plots.plot_confusion(confusion, CLASSES, path)
    assert _png(path).shape == (950, 1100, 3)


def _predictions(tmp_path, labels, probs, channels: int, n: int = 32) -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 28, 28, channels), np.uint8)
    path = tmp_path / "predictions.png"
    plots.plot_predictions(images, labels, probs, CLASSES, path, n=n)
    return _png(path)


def _red_pixels(pixels: np.ndarray) -> int:
    return int(np.sum(np.abs(pixels.astype(int) - RED).sum(axis=-1) < 30))


def test_prediction_grid_marks_wrong_ones_red(tmp_path):
    labels = np.arange(40) % 10
    probs = np.full((40, 10), 0.05)
    probs[np.arange(40), labels] = 0.55
    right = _predictions(tmp_path, labels, probs, channels=1)
    assert right.shape == (1030, 1520, 3)  # the first 32: 8 columns x 4 rows
    assert _red_pixels(right) == 0
    probs[3] = np.roll(probs[3], 1)  # image 3 now predicts class 4
    (tmp_path / "predictions.png").unlink()
    wrong = _predictions(tmp_path, labels, probs, channels=1, n=8)
    assert wrong.shape == (295, 1520, 3)
    assert _red_pixels(wrong) > 500  # a red frame (4 x ~150 px x 3 px) and red text


def test_prediction_grid_with_fewer_images_than_n(tmp_path):
    labels = np.array([0, 1, 2])
    pixels = _predictions(tmp_path, labels, np.eye(10)[labels], channels=3)
    assert pixels.shape == (295, 760, 3)  # one row, four columns wide (one left empty)


def test_batch_grid_shows_the_pixels_as_given(tmp_path):
    """augmented.png's grid: 8 columns, each image at its true grey levels (a white
    image with a black square shows both)."""
    images = np.full((12, 28, 28, 1), 255, dtype=np.uint8)
    images[:, 8:20, 8:20] = 0
    plots.plot_batch(images, np.arange(12) % 10, CLASSES, tmp_path / "augmented.png")
    pixels = _png(tmp_path / "augmented.png")
    assert pixels.shape == (410, 1280, 3)  # two rows of 8 columns
    grey = pixels.mean(axis=2)
    assert (grey < 10).sum() > 12 * 400 and (grey > 250).sum() > 12 * 300


def test_as_pixels_undoes_the_normalisation():
    from incept.runtime.augment import as_pixels

    raw = np.random.default_rng(0).integers(0, 256, (3, 5, 4, 2), dtype=np.uint8)
    mean, std = (0.25, 0.5), (0.5, 0.2)
    normalised = ((raw / 255.0 - np.array(mean)) / np.array(std)).astype(np.float32)
    np.testing.assert_array_equal(as_pixels(normalised, mean, std), raw)
    assert as_pixels(np.full((1, 1, 1, 2), -9.0), mean, std).tolist() == [[[[0, 0]]]]  # clipped
