"""Fine-tuning: `incept train --init-from RUN` onto a data set with another class count
(the classifiers start fresh, every other tensor comes from the source) and `--freeze`
(the frozen rows' tensors, batch-norm statistics included, are bit-identical after an
epoch while the head trained). Both frameworks, on the tiny spec and toy data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runchecks import incept
from toydata import toy_images, write_toy_fashion

from incept.runtime.checkpoints import load
from incept.runtime.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/data/train/tiny.yaml"
FROZEN = ("conv1", "inception_a", "inception_b")  # all-but-head on tiny: every weighted row


def _tiny3(folder: Path) -> Path:
    """tiny.yaml for 3 classes: num_classes and the classifier's output, nothing else."""
    text = (ROOT / TINY).read_text().replace("num_classes: 10", "num_classes: 3")
    path = folder / "tiny3.yaml"
    path.write_text(
        text.replace("{name: fc, op: linear, out: 10}", "{name: fc, op: linear, out: 3}")
    )
    return path


def _three_classes(folder: Path) -> Path:
    """An image folder of the toy problem's first three classes (PNG, grey)."""
    from PIL import Image

    for split, n, seed in (("train", 240, 0), ("val", 60, 1)):
        images, labels = toy_images(n * 10 // 3, seed)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            if label < 3:
                target = folder / split / f"class{label}"
                target.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image, mode="L").save(target / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _three_classes(tmp_path_factory.mktemp("three"))


def _train(spec: str, data: list[str], run: Path, backend: str, *extra: str) -> tuple[int, str]:
    return incept(
        "train", spec, *data, "--run-dir", str(run), "--backend", backend, "--epochs", "1",
        "--no-progress", "--device", "cpu", "--seed", "7", *extra,
    )  # fmt: skip


def _fashion(toy: Path) -> list[str]:
    return ["--data", "fashion-mnist", "--data-dir", str(toy)]


def _weights(run: Path) -> dict[str, np.ndarray]:
    """Every tensor of the run's last checkpoint by name: torch state_dict keys, Keras paths."""
    model = load(run).model
    if hasattr(model, "state_dict"):
        return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return {w.path: np.asarray(w.numpy()) for w in model.weights}


def _in(key: str, rows: tuple[str, ...]) -> bool:
    """Whether a tensor belongs to one of `rows` (torch `row.`, Keras `row/` or `row_`)."""
    return any(key.startswith(f"{row}{sep}") for row in rows for sep in "./_")


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_init_from_another_class_count_with_frozen_body(toy, three, tmp_path, backend):
    source = tmp_path / "source"
    code, output = _train(TINY, _fashion(toy), source, backend)
    assert code == 0, output
    spec = str(_tiny3(tmp_path))
    target = tmp_path / "target"
    code, output = _train(
        spec, ["--data", f"imagefolder:{three}"], target, backend,
        "--init-from", str(source), "--freeze", "all-but-head",
    )  # fmt: skip
    assert code == 0, output
    config = json.loads(RunDir(target).config.read_text())
    assert config["init_from"].startswith(str(source))
    assert config["freeze"] == [
        "conv1", "inception_a", "pool1", "inception_b", "pool2", "dropout", "flatten"
    ]  # fmt: skip
    before, after = _weights(source), _weights(target)
    frozen = [k for k in after if _in(k, FROZEN) and "seed_generator" not in k]
    assert len(frozen) >= 20  # convolutions and batch norms (statistics too)
    for key in frozen:
        assert np.array_equal(after[key], before[key]), key
    heads = sorted(k for k in after if _in(k, ("fc", "aux1")))
    shapes = sorted(after[k].shape for k in heads)
    assert sorted(before[k].shape for k in heads) != shapes  # 10 classes there, 3 here
    assert (3,) in shapes and any(3 in s and 24 in s for s in shapes)  # fc: 24 -> 3
    metrics = RunDir(target).read_metrics()
    assert metrics[0]["test_acc"] > 0.5  # the head learned on the frozen features (chance: 1/3)


def test_freeze_named_rows_same_class_count(toy, tmp_path):
    source = tmp_path / "source"
    assert _train(TINY, _fashion(toy), source, "torch")[0] == 0
    target = tmp_path / "target"
    code, output = _train(
        TINY, _fashion(toy), target, "torch", "--init-from", str(source),
        "--freeze", "conv1,inception_a",
    )  # fmt: skip
    assert code == 0, output
    before, after = _weights(source), _weights(target)
    for key in after:
        same = np.array_equal(after[key], before[key])
        if _in(key, ("conv1", "inception_a")):
            assert same, key
        elif key.endswith("weight") and _in(key, ("inception_b", "fc")):
            assert not same, key  # trained
    assert json.loads(RunDir(target).config.read_text())["freeze"] == ["conv1", "inception_a"]


def test_bad_freeze_and_other_architecture_are_one_line(toy, tmp_path):
    code, output = _train(TINY, _fashion(toy), tmp_path / "r", "torch", "--freeze", "conv9")
    assert code == 2
    assert "--freeze" in output and "no row 'conv9'" in output and "Traceback" not in output
    source = tmp_path / "source"
    assert _train(TINY, _fashion(toy), source, "torch")[0] == 0
    other = tmp_path / "other.yaml"  # another dropout rate: not only the class count differs
    other.write_text((ROOT / TINY).read_text().replace("p: 0.2", "p: 0.3"))
    code, output = _train(
        str(other), _fashion(toy), tmp_path / "w", "torch", "--init-from", str(source)
    )
    assert code == 2 and "differs from this spec's in more than num_classes" in output


def test_num_classes_fine_tunes_a_spec_to_the_data_without_writing_one(toy, three, tmp_path):
    """--num-classes 3 on a 10-class spec whose classifier follows $num_classes: the run
    records it, and eval, predict, export, convert and --resume read it from there."""
    source = tmp_path / "source"
    assert _train(TINY, _fashion(toy), source, "torch")[0] == 0
    spec = tmp_path / "tinyn.yaml"  # tiny's fc, like its aux head's, follows num_classes
    spec.write_text(
        (ROOT / TINY).read_text().replace("op: linear, out: 10}", "op: linear, out: $num_classes}")
    )
    folder, target = ["--data", f"imagefolder:{three}"], tmp_path / "target"
    tune = ("--init-from", str(source), "--freeze", "all-but-head")
    code, output = _train(str(spec), folder, target, "torch", *tune)
    assert (code, output.strip()) == (
        2,
        f"{spec}: error[data]: imagefolder:{three} has 3 classes but the spec has num_classes: "
        "10; pass --num-classes 3 or write a spec that extends it with `num_classes: 3`",
    )
    code, output = _train(str(spec), folder, target, "torch", *tune, "--num-classes", "3")
    assert code == 0, output
    assert json.loads(RunDir(target).config.read_text())["spec"]["num_classes"] == 3
    assert RunDir(target).read_metrics()[0]["test_acc"] > 0.5  # chance: 1/3
    code, output = incept("eval", str(target), "--format", "json", "--device", "cpu")
    assert code == 0 and json.loads(output[output.index("{") :])["count"] == 60, output
    assert "crop_pct" not in json.loads(output[output.index("{") :])  # a run: whole images
    code, output = incept("eval", str(target), "--crop-pct", "0.8", "--format", "json", "--device", "cpu")  # fmt: skip
    summary = json.loads(output[output.index("{") :])
    assert (code, summary["crop_pct"], summary["count"]) == (0, 0.8, 60), output
    assert summary["interpolation"] == "bilinear"
    code, output = incept("eval", str(target), "--interpolation", "bicubic", "--format", "json", "--device", "cpu")  # fmt: skip
    summary = json.loads(output[output.index("{") :])
    assert (code, summary["interpolation"], "crop_pct" in summary) == (0, "bicubic", False)
    code, output = incept("eval", str(target), "--crop-pct", "0.8", "--crops", "10")
    assert (code, output) == (
        2,
        "--crop-pct: error[flag]: is for one centre crop: use it with --crops 1 (10 and 144 "
        "are the paper's crops)\n",
    )
    for flag, value in (("--crop-pct", "0.8"), ("--interpolation", "bicubic")):
        code, output = incept("eval", str(source), flag, value, "--device", "cpu")
        assert code == 2 and output.startswith(f"{flag}: error[flag]: resizes image files"), output
    image = next((three / "val" / "class2").iterdir())
    code, output = incept("predict", str(target), str(image), "--device", "cpu")
    assert code == 0 and output.startswith(f"{image}: class"), output
    code, output = incept("export", str(target), "--onnx", str(tmp_path / "m.onnx"))
    assert code == 0 and "N x 1 x 16 x 16" in output, output
    code, output = incept("convert", str(target), "--to", "keras", "-o", str(tmp_path / "k.keras"))
    assert code == 0, output
    converted = load(tmp_path / "k.keras").model
    assert {tuple(out.shape) for out in converted.outputs} == {(None, 3)}  # logits and aux
    code, output = _train(str(spec), folder, target, "torch", "--resume")  # flags as before
    assert code == 2 and "pass --num-classes 3 or write a spec" in output, output
    code, output = incept("eval", str(target), "--spec", TINY, "--device", "cpu")
    assert code == 2 and f"trained from {spec} with --num-classes 3 (architecture" in output, output
    code, output = _train(TINY, folder, tmp_path / "lit", "torch", "--num-classes", "3")
    assert (code, output.strip()) == (
        2,
        f"--num-classes: error[flag]: {TINY}: its last row gives (10,), not num_classes = 3: "
        "write the classifier's width as $num_classes to change it",
    )
