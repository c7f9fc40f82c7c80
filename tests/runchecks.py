"""What the torch and Keras training tests check alike, on a finished toy run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from toydata import toy_images

from incept.compiler.cli import main
from incept.runtime.rundir import RunDir

#: metrics.csv columns that are measured, not computed: they differ between any two runs.
TIMING = ("images_per_s", "epoch_s", "wall_s")


def incept(*args: str) -> tuple[int, str]:
    """Run the CLI in-process; a bug (not a SystemExit) is raised, not hidden."""
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def train_tiny(toy: Path, backend: str, run: Path, *extra: str) -> tuple[int, str]:
    """`incept train` of tests/data/train/tiny.yaml on toy Fashion-MNIST files: two
    epochs of batch 16, seed 5, on the CPU (64 toy images: 4 steps an epoch)."""
    return incept(
        "train", "tests/data/train/tiny.yaml", "--backend", backend, "--data", "fashion-mnist",
        "--data-dir", str(toy), "--run-dir", str(run), "--epochs", "2", "--batch-size", "16",
        "--no-progress", "--device", "cpu", "--seed", "5", *extra,
    )  # fmt: skip


def computed(run: RunDir) -> list[dict[str, float]]:
    """metrics.csv without its timing columns."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in run.read_metrics()]


def check_eval_crops(run: RunDir) -> None:
    """`incept eval` with 1, 10 and 144 crops on the toy run's 100 test images."""
    results = {}
    for crops in ("1", "10", "144"):
        code, output = incept("eval", str(run.path), "--crops", crops, "--json", "--device", "cpu")
        assert code == 0, output
        results[crops] = json.loads(output)
    assert {r["count"] for r in results.values()} == {100}
    last = run.read_metrics()[-1]
    assert results["1"]["top1"] == pytest.approx(last["test_acc"])
    assert results["1"]["loss"] == pytest.approx(last["test_loss"], rel=1e-5)
    assert results["10"]["crops"] == 10 and results["144"]["crops"] == 144
    for result in results.values():  # the toy's classes are positions: crops may move them
        assert sum(map(sum, result["confusion"])) == 100
        assert result["top5"] >= result["top1"]


def check_predict(run: RunDir, folder: Path) -> None:
    """`incept predict` names the class of three toy images written as PNGs."""
    images, labels = toy_images(10, seed=5)
    paths = []
    for i in range(3):
        path = folder / f"img{i}.png"
        Image.fromarray(images[i]).save(path)
        paths.append(str(path))
    code, output = incept("predict", str(run.last), *paths, "--json", "--device", "cpu")
    assert code == 0, output
    results = json.loads(output)
    names = run.read_config()["data"]["classes"]
    assert [r["top"][0]["class"] for r in results] == [names[k] for k in labels[:3]]
    assert all(len(r["top"]) == 5 for r in results)
    assert sum(p["probability"] for p in results[0]["top"]) <= 1.0 + 1e-6
