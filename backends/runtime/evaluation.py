"""Evaluation, prediction and the end-of-training report, for every framework.

A framework supplies only a `Loaded` model (incept.runtime.adapter) that turns a split
into softmax probabilities averaged over a crop plan; which checkpoint, spec and data
it belongs to, the crop plans, the metrics, eval.json, the confusion matrix and the
prediction grid are decided here, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from incept.compiler.files import write_atomic
from incept.compiler.pipeline import Compiled

from . import checkpoints
from .crops import HW, crop_plan
from .data import WHOLE, ArraySplit, Dataset, FileSplit, Resize, Split
from .data.sources import check_fits, open_data
from .errors import Code, InputError
from .metrics import summarize
from .rundir import RunDir
from .weights import Weights, open_source

#: The flags that say how eval and predict resize image files (Resize's fields).
RESIZE_FLAGS = ("crop_pct", "interpolation")

if TYPE_CHECKING:
    from .adapter import Loaded

#: How many test images the prediction grid shows.
GRID = 32


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


def _positive(flag: str, value: int) -> None:
    if value < 1:
        raise InputError(Code.FLAG, flag, f"must be at least 1, got {value}")


def check_classes(data: Dataset, state: Mapping[str, Any], path: Path) -> None:
    trained = list(state["data"]["classes"])
    if list(data.classes) != trained:
        raise InputError(
            Code.DATA,
            path,
            f"was trained on classes {trained[:4]}..., the data set has {list(data.classes)[:4]}...",
        )


def evaluate(target: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """`incept eval`: top-1/top-5/loss/per-class accuracy on the test split. A run
    folder is evaluated at its last weights (name checkpoints/best.* for those); a
    library source or weights file with --spec and --data."""
    _positive("--batch-size", flags["batch_size"])
    opened = open_source(target, flags["spec"], best=False)
    if isinstance(opened, Weights):
        return _evaluate_weights(opened, flags)
    state = opened.state
    source = flags["source"] or state["data"]["source"]
    data_dir = flags["data_dir"] or (None if flags["source"] else state["data"].get("data_dir"))
    data = open_data(source, data_dir, None, flags["limit_test"])
    check_classes(data, state, opened.path)
    test = _test_split(data, flags, resize_of(flags, opened))
    return _summary(opened.load(flags["device"]), data, test, str(opened.path), source, flags)


def _evaluate_weights(weights: Weights, flags: Mapping[str, Any]) -> dict[str, Any]:
    """Weights that record no data set: on --data, which must have the spec's classes
    (in the order of the weights' classifier: an image folder's sorted folder names)."""
    if not flags["source"]:
        raise InputError(
            Code.FLAG,
            "--data",
            f"{weights.where} records no data set: name the one to evaluate on "
            "(imagefolder:DIR, cifar10:DIR, fashion-mnist)",
        )
    data = open_data(flags["source"], flags["data_dir"], None, flags["limit_test"])
    channels = weights.graph.input.shape[0]  # type: ignore[index]
    spec = str(flags["spec"])
    check_fits(data, channels=channels, num_classes=weights.graph.num_classes, where=spec)
    test = _test_split(data, flags, resize_of(flags, weights))
    loaded = weights.load(flags["device"])
    return _summary(loaded, data, test, weights.source, flags["source"], flags)


def resize_of(flags: Mapping[str, Any], opened: object) -> Resize:
    """--crop-pct and --interpolation, else for a library's weights the centre crop and
    filter that library evaluates them with (at one crop: 10 and 144 are the paper's)."""
    reference = opened.reference if isinstance(opened, Weights) else None
    usual = reference.resize if reference and int(flags.get("crops", 1)) == 1 else WHOLE
    pct = flags.get("crop_pct")
    return Resize(
        crop_pct=usual.crop_pct if pct is None else pct,
        interpolation=flags.get("interpolation") or usual.interpolation,
    )


def _test_split(data: Dataset, flags: Mapping[str, Any], resize: Resize) -> Split:
    """The test split, its image files read as `resize` says."""
    if resize == WHOLE:
        return data.test
    given = [f"--{f.replace('_', '-')}" for f in RESIZE_FLAGS if flags.get(f) is not None]
    if int(flags["crops"]) != 1:
        paper = "10 and 144 are the paper's crops"
        raise InputError(
            Code.FLAG, given[0], f"is for one centre crop: use it with --crops 1 ({paper})"
        )
    if not isinstance(data.test, FileSplit):
        if not given:  # the library's default: arrays are used whole
            return data.test
        raise InputError(
            Code.FLAG, given[0], f"resizes image files (imagefolder:DIR); {data.name} is arrays"
        )
    return replace(data.test, resize=resize)


def _summary(
    loaded: Loaded,
    data: Dataset,
    test: Split,
    checkpoint: str,
    source: str,
    flags: Mapping[str, Any],
) -> dict[str, Any]:
    crops = int(flags["crops"])
    probs, labels = test_probs(loaded, test, crops=crops, batch_size=flags["batch_size"])
    summary = summarize(probs, labels, data.classes).as_dict()
    resize = test.resize if isinstance(test, FileSplit) else WHOLE
    cut: dict[str, float | str] = {}
    if resize.crop_pct is not None:
        cut["crop_pct"] = resize.crop_pct
    if resize != WHOLE:
        cut["interpolation"] = resize.interpolation
    return {"checkpoint": checkpoint, "data": source, "crops": crops, **cut, **summary}


def write_report(run: RunDir, data: Dataset, *, spec: str, device: str) -> None:
    """After training: eval.json, the confusion matrix and the prediction grid, from the
    run's last checkpoint."""
    from .plots import plot_confusion, plot_predictions

    loaded = checkpoints.load(run.path, spec, device)
    probs, labels = test_probs(loaded, data.test, crops=1, batch_size=256)
    summary = summarize(probs, labels, data.classes)
    report = {"checkpoint": str(run.last), "crops": 1, **summary.as_dict()}
    write_atomic(run.evaluation, json.dumps(report, indent=2) + "\n")
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


def predict(target: str, images: Sequence[Path], flags: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`incept predict`: the top classes of each image (read with Pillow) from a run
    folder (its best checkpoint), a checkpoint file, or a library source or weights file
    with --spec."""
    from .data.images import image_files, read_image

    _positive("--top", flags["top"])
    files = image_files(images)
    opened = open_source(target, flags["spec"], best=True)
    channels = opened.compiled.graph.input.shape[0]  # type: ignore[index]
    resize = resize_of(flags, opened)
    size = input_hw(opened.compiled) if resize != WHOLE else None  # else resized later
    loaded = opened.load(flags["device"])
    classes = loaded.state["data"]["classes"]
    results = []  # printed by the caller once every image is read: no partial output
    for image_path in files:  # one decoded at a time: a folder may hold thousands
        array = read_image(image_path, channels=channels, size=size, resize=resize)
        split = ArraySplit(array[None], np.zeros(1, dtype=np.int64))
        probs, _ = test_probs(loaded, split, crops=1, batch_size=1)
        order = np.argsort(-probs[0], kind="stable")[: min(flags["top"], len(classes))]
        top = [{"class": classes[i], "probability": float(probs[0][i])} for i in order]
        results.append({"image": str(image_path), "top": top})
    return results


def print_summary(summary: Mapping[str, Any]) -> None:
    """The evaluation summary as a rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    views = f"{summary['crops']} crop(s)"
    if "crop_pct" in summary:
        views += f" (centre {summary['crop_pct']:g}, {summary['interpolation']})"
    elif "interpolation" in summary:
        views += f" ({summary['interpolation']})"
    console.print(
        f"{summary['checkpoint']}: {summary['count']:,} test images, {views}: "
        f"top-1 {summary['top1']:.4f}  top-5 {summary['top5']:.4f}  loss {summary['loss']:.4f}",
        highlight=False,
    )
    table = Table("class", "accuracy", title="per-class accuracy")
    for name, acc in summary["per_class"].items():
        table.add_row(name, f"{acc:.4f}")
    console.print(table)
