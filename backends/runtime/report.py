"""Evaluation, prediction and the end-of-training report, for every backend.

A backend supplies only a loader: checkpoint path -> a `Loaded` model that turns a
test split into softmax probabilities averaged over a crop plan. Everything else —
which spec and data a checkpoint belongs to, the crop plans, the metrics, eval.json,
the confusion matrix and the prediction grid — is decided here, once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from incept.compiler.pipeline import Compiled

from .crops import HW, Crop, crop_plan
from .data import ArraySplit, Dataset, Split
from .errors import Code, InputError
from .metrics import summarize
from .resume import check_classes
from .rundir import RunDir, write_text

#: How many test images the prediction grid shows.
GRID = 32


class Loaded(Protocol):
    """A checkpoint's model in eval mode, its compiled spec and its identity."""

    @property
    def compiled(self) -> Compiled: ...

    @property
    def state(self) -> Mapping[str, Any]:  # job.identity(...): spec, recipe, data, history
        ...

    def probs(
        self, split: Split, *, start_hw: HW, plan: Sequence[Crop], batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N x K float64 softmax averaged over `plan`, N int64 labels); the images are
        resized to `start_hw` and normalised with the checkpoint's mean/std first."""
        ...


#: (checkpoint, --spec or None, --device) -> the loaded model
Loader = Callable[[Path, str | None, str], Loaded]


def input_hw(compiled: Compiled) -> HW:
    _, h, w = compiled.graph.input.shape  # type: ignore[misc]
    return h, w


def _native_hw(split: Split, input_size: HW) -> HW:
    """The size multi-crop starts from: the images' own for arrays; image folders are
    first resized to the 10-crop scale (shorter side input * 256/224)."""
    if isinstance(split, ArraySplit):
        return split.images.shape[1], split.images.shape[2]
    side = round(min(input_size) * 256 / 224)
    return side, side


def test_probs(
    loaded: Loaded, split: Split, *, crops: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (averaged over `crops` views) and labels of a test split."""
    size = input_hw(loaded.compiled)
    start_hw = size if crops == 1 else _native_hw(split, size)
    plan = crop_plan(crops, start_hw, size)
    return loaded.probs(split, start_hw=start_hw, plan=plan, batch_size=batch_size)


def evaluate_checkpoint(path: Path, flags: Mapping[str, Any], load: Loader) -> dict[str, Any]:
    """`incept eval`: top-1/top-5/loss/per-class accuracy on the test split."""
    from .commands import open_data

    if flags["batch_size"] < 1:
        raise InputError(
            Code.FLAG, "--batch-size", f"must be at least 1, got {flags['batch_size']}"
        )
    loaded = load(path, flags["spec"], flags["device"])
    state = loaded.state
    source = flags["source"] or state["data"]["source"]
    data_dir = flags["data_dir"] or (None if flags["source"] else state["data"].get("data_dir"))
    data = open_data(source, data_dir, None, flags["limit_test"])
    check_classes(data, state, path)
    crops = int(flags["crops"])
    probs, labels = test_probs(loaded, data.test, crops=crops, batch_size=flags["batch_size"])
    summary = summarize(probs, labels, data.classes).as_dict()
    return {"checkpoint": str(path), "data": source, "crops": crops, **summary}


def write_report(
    last: Path, run: RunDir, data: Dataset, *, spec: str, device: str, load: Loader
) -> None:
    """After training: eval.json, the confusion matrix and the prediction grid."""
    from .plots import plot_confusion, plot_predictions

    loaded = load(last, spec, device)
    probs, labels = test_probs(loaded, data.test, crops=1, batch_size=256)
    summary = summarize(probs, labels, data.classes)
    write_text(
        run.evaluation,
        json.dumps({"checkpoint": str(last), "crops": 1, **summary.as_dict()}, indent=2) + "\n",
    )
    plot_confusion(summary.confusion, data.classes, run.confusion)
    pick = np.linspace(0, len(labels) - 1, num=min(GRID, len(labels))).astype(int)
    images = _grid_images(data.test, pick, loaded.compiled)
    plot_predictions(images, labels[pick], probs[pick], data.classes, run.predictions)


def _grid_images(split: Split, pick: np.ndarray, compiled: Compiled) -> np.ndarray:
    if isinstance(split, ArraySplit):
        return split.images[pick]
    from PIL import Image

    from .data.images import read_image

    channels = compiled.graph.input.shape[0]  # type: ignore[index]
    h, w = input_hw(compiled)
    out = []
    for i in pick:
        img = read_image(split.paths[i], channels=channels)
        resized = Image.fromarray(img.squeeze(-1) if channels == 1 else img).resize((w, h))
        out.append(np.asarray(resized).reshape(h, w, channels))
    return np.stack(out)


def predict_images(
    path: Path, images: Sequence[Path], flags: Mapping[str, Any], load: Loader
) -> list[dict[str, Any]]:
    """`incept predict`: the top classes of each image, read with Pillow."""
    from .data.images import read_image

    if flags["top"] < 1:
        raise InputError(Code.FLAG, "--top", f"must be at least 1, got {flags['top']}")
    loaded = load(path, flags["spec"], flags["device"])
    channels = loaded.compiled.graph.input.shape[0]  # type: ignore[index]
    arrays = [read_image(p, channels=channels) for p in images]  # all read before any output
    classes = loaded.state["data"]["classes"]
    results = []
    for image_path, array in zip(images, arrays, strict=True):
        split = ArraySplit(array[None], np.zeros(1, dtype=np.int64))
        probs, _ = test_probs(loaded, split, crops=1, batch_size=1)
        order = np.argsort(-probs[0])[: min(flags["top"], len(classes))]
        top = [{"class": classes[i], "probability": float(probs[0][i])} for i in order]
        results.append({"image": str(image_path), "top": top})
    return results
