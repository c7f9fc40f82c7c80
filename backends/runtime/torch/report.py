"""Evaluation and prediction from torch checkpoints, and the end-of-training report.

A checkpoint names the spec it was trained from; the spec is compiled again and its
architecture fingerprint must equal the checkpoint's, so weights never meet a model
they were not trained for.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from incept.compiler.pipeline import Compiled, compile_spec

from ..crops import crop_plan
from ..data import ArraySplit, Dataset, Split
from ..errors import Code, InputError
from ..job import Options
from ..metrics import summarize
from ..rundir import RunDir, write_text
from . import checkpoint
from .batches import make_batches
from .device import setup
from .evaluate import predict_probs
from .model import build_model

#: How many test images the prediction grid shows.
GRID = 32


def load_model(
    path: Path, spec: str | None, device: torch.device
) -> tuple[nn.Module, Compiled, dict[str, Any]]:
    """The model of checkpoint `path` in eval mode on `device`, its compiled spec, its state."""
    state = checkpoint.load(path)
    spec_path = spec or state["spec"]["path"]
    if not Path(spec_path).is_file():
        raise InputError(
            Code.CHECKPOINT, path, f"was trained from {spec_path}, which is not here; pass --spec"
        )
    compiled = compile_spec(spec_path)
    checkpoint.check_architecture(state, compiled.arch_sha256, path, Code.CHECKPOINT)
    folder = path.parent.parent if path.parent.name == "checkpoints" else None
    folder = folder or Path(tempfile.gettempdir()) / "incept-models"
    aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
    model = build_model(compiled, folder, aux=aux)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), compiled, state


def _input_hw(compiled: Compiled) -> tuple[int, int]:
    _, h, w = compiled.graph.input.shape  # type: ignore[misc]
    return h, w


def _native_hw(split: Split, input_hw: tuple[int, int]) -> tuple[int, int]:
    """The size multi-crop starts from: the images' own for arrays; image folders are
    first resized to the 10-crop scale (shorter side input * 256/224)."""
    if isinstance(split, ArraySplit):
        return split.images.shape[1], split.images.shape[2]
    side = round(min(input_hw) * 256 / 224)
    return side, side


def test_probs(
    model: nn.Module,
    compiled: Compiled,
    state: Mapping[str, Any],
    split: Split,
    *,
    crops: int,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (averaged over `crops` views) and labels of a test split."""
    input_hw = _input_hw(compiled)
    start_hw = input_hw if crops == 1 else _native_hw(split, input_hw)
    batches = make_batches(
        split,
        train=False,
        batch_size=batch_size,
        device=device,
        size=start_hw,
        mean=state["data"]["mean"],
        std=state["data"]["std"],
    )
    plan = crop_plan(crops, start_hw, input_hw)
    return predict_probs(model, batches.epoch(0), plan, input_hw)


def evaluate_checkpoint(path: Path, flags: Mapping[str, Any]) -> dict[str, Any]:
    """`incept eval`: top-1/top-5/loss/per-class accuracy on the test split."""
    from ..commands import open_data

    rt = setup(Options(device=flags["device"]))
    if flags["batch_size"] < 1:
        raise InputError(
            Code.FLAG, "--batch-size", f"must be at least 1, got {flags['batch_size']}"
        )
    model, compiled, state = load_model(path, flags["spec"], rt.device)
    source = flags["source"] or state["data"]["source"]
    data_dir = flags["data_dir"] or (None if flags["source"] else state["data"].get("data_dir"))
    data = open_data(source, data_dir, None, flags["limit_test"])
    _check_classes(data, state, path)
    crops = int(flags["crops"])
    probs, labels = test_probs(
        model,
        compiled,
        state,
        data.test,
        crops=crops,
        batch_size=flags["batch_size"],
        device=rt.device,
    )
    summary = summarize(probs, labels, data.classes).as_dict()
    return {"checkpoint": str(path), "data": source, "crops": crops, **summary}


def _check_classes(data: Dataset, state: Mapping[str, Any], path: Path) -> None:
    trained = list(state["data"]["classes"])
    if list(data.classes) != trained:
        raise InputError(
            Code.DATA,
            path,
            f"was trained on classes {trained[:4]}..., the data set has {list(data.classes)[:4]}...",
        )


def write_report(last: Path, run: RunDir, data: Dataset, *, spec: str, device: str) -> None:
    """After training: eval.json, the confusion matrix and the prediction grid."""
    from ..plots import plot_confusion, plot_predictions

    rt = setup(Options(device=device))
    if not rt.is_main:
        return
    model, compiled, state = load_model(last, spec, rt.device)
    probs, labels = test_probs(
        model, compiled, state, data.test, crops=1, batch_size=256, device=rt.device
    )
    summary = summarize(probs, labels, data.classes)
    write_text(
        run.evaluation,
        json.dumps({"checkpoint": str(last), "crops": 1, **summary.as_dict()}, indent=2) + "\n",
    )
    plot_confusion(summary.confusion, data.classes, run.confusion)
    pick = np.linspace(0, len(labels) - 1, num=min(GRID, len(labels))).astype(int)
    images = _grid_images(data.test, pick, compiled)
    plot_predictions(images, labels[pick], probs[pick], data.classes, run.predictions)


def _grid_images(split: Split, pick: np.ndarray, compiled: Compiled) -> np.ndarray:
    if isinstance(split, ArraySplit):
        return split.images[pick]
    from ..data.images import read_image

    channels = compiled.graph.input.shape[0]  # type: ignore[index]
    h, w = _input_hw(compiled)
    from PIL import Image

    out = []
    for i in pick:
        img = read_image(split.paths[i], channels=channels)
        resized = Image.fromarray(img.squeeze(-1) if channels == 1 else img).resize((w, h))
        out.append(np.asarray(resized).reshape(h, w, channels))
    return np.stack(out)


def predict_images(
    path: Path, images: Sequence[Path], flags: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """`incept predict`: the top classes of each image, read with Pillow."""
    from ..data.images import read_image

    if flags["top"] < 1:
        raise InputError(Code.FLAG, "--top", f"must be at least 1, got {flags['top']}")
    rt = setup(Options(device=flags["device"]))
    model, compiled, state = load_model(path, flags["spec"], rt.device)
    channels = compiled.graph.input.shape[0]  # type: ignore[index]
    arrays = [read_image(p, channels=channels) for p in images]  # all read before any output
    classes = state["data"]["classes"]
    results = []
    for image_path, array in zip(images, arrays, strict=True):
        split = ArraySplit(array[None], np.zeros(1, dtype=np.int64))
        probs, _ = test_probs(
            model, compiled, state, split, crops=1, batch_size=1, device=rt.device
        )
        order = np.argsort(-probs[0])[: min(flags["top"], len(classes))]
        top = [{"class": classes[i], "probability": float(probs[0][i])} for i in order]
        results.append({"image": str(image_path), "top": top})
    return results
