"""What the commands take besides a spec path and a run: a model's name recorded by a run
(eval and predict from another folder, and after the recorded file has gone), and the
pretrained sources of incept.create_model — `incept train --init-from torchvision`,
`incept predict torchvision IMAGE --spec ...`, `incept eval WEIGHTS.pt --spec ...` —
against the libraries' reference models with random weights in offline caches laid out
as tests/test_pretrained.py lays them out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from runchecks import incept
from test_family import _randomize
from test_pretrained import (
    KERAS,
    KERAS_SIZE,
    _keras_reference,
    _torchvision_file,
    torch_home,  # noqa: F401  (a fixture)
)
from toydata import write_toy_fashion

from incept.runtime.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64  # googlenet-torchvision at 64x64: the pretrained tests' size, quick on a CPU
CPU = ("--device", "cpu")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"))


def _train(spec: str, run: Path, data: list[str], *extra: str) -> None:
    code, output = incept(
        "train", spec, *data, "--run-dir", str(run), "--epochs", "1", "--no-progress",
        *CPU, *extra,
    )  # fmt: skip
    assert code == 0, output


def _json(*args: str) -> object:
    code, output = incept(*args, "--format", "json")
    assert code == 0, output
    return json.loads(output[output.index("{") if args[0] == "eval" else output.index("[") :])


# -- a run of a model's name ---------------------------------------------------------------


def test_a_run_of_a_name_evaluates_from_another_folder(toy, tmp_path, monkeypatch):
    """`tiny` is a name on INCEPT_PATH; the run records the file it resolved to. From
    another working folder eval and predict find it; when that file is gone (a run of
    another checkout or installation) the name finds the spec on the search path."""
    monkeypatch.setenv("INCEPT_PATH", str(ROOT / "tests" / "data" / "train"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    data = ["--data", "fashion-mnist", "--data-dir", str(toy)]
    _train("tiny", Path("run"), data, "--limit-train", "64", "--limit-test", "20")
    run = RunDir(tmp_path / "a" / "run")
    config = json.loads(run.config.read_text())
    assert config["spec"]["path"] == str(ROOT / "tests" / "data" / "train" / "tiny.yaml")
    monkeypatch.chdir(tmp_path / "b")
    summary = _json("eval", str(run.path), "--limit-test", "20", *CPU)
    assert summary["count"] == 20
    assert summary["top1"] == pytest.approx(run.read_metrics()[-1]["test_acc"])
    image = tmp_path / "b" / "seven.png"
    Image.fromarray(np.full((16, 16), 200, dtype=np.uint8)).save(image)
    (item,) = _json("predict", str(run.path), str(image), "--top", "3", *CPU)
    assert len(item["top"]) == 3
    assert {p["class"] for p in item["top"]} <= set(config["data"]["classes"])

    state = torch.load(run.last, weights_only=True)
    state["spec"]["path"] = "/elsewhere/site-packages/incept/specs/tiny.yaml"
    torch.save(state, tmp_path / "moved.pt")
    moved = _json("eval", str(tmp_path / "moved.pt"), "--limit-test", "20", *CPU)
    assert moved["top1"] == summary["top1"] and moved["loss"] == pytest.approx(summary["loss"])
    monkeypatch.delenv("INCEPT_PATH")  # the name is nowhere now
    code, output = incept("eval", str(tmp_path / "moved.pt"), *CPU)
    assert code == 2
    assert output.strip() == (
        f"{tmp_path / 'moved.pt'}: error[checkpoint]: was trained from "
        "/elsewhere/site-packages/incept/specs/tiny.yaml, which is not here; pass --spec"
    )
    again = _json("eval", str(tmp_path / "moved.pt"), "--spec", str(ROOT / "tests/data/train/tiny.yaml"), "--limit-test", "20", *CPU)  # fmt: skip
    assert again["top1"] == summary["top1"]


# -- torchvision's weights -----------------------------------------------------------------


def _reference(torch_home: Path):  # noqa: F811
    """torchvision's googlenet with random weights, saved as its cached download."""
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    _randomize(reference)
    torch.save(reference.state_dict(), _torchvision_file("googlenet", torch_home))
    return reference.eval()


def _small_spec(folder: Path, classes: int = 1000) -> str:
    """googlenet-torchvision at SIZE (its name, hence its sources, kept)."""
    path = folder / f"gtv{classes}.yaml"
    path.write_text(
        f"extends: googlenet-torchvision\nnum_classes: {classes}\n"
        f"input: {{size: {SIZE}}}\npatch: [{{row: '*', unset: [output]}}]\n"
    )
    return str(path)


def _rgb_folder(root: Path, classes: int, per_class: int, size: int = SIZE) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(classes):
            folder = root / split / f"c{k}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_init_from_torchvision(torch_home, tmp_path):  # noqa: F811
    """A 3-class fine-tune from torchvision's weights, body frozen: after a step every
    frozen tensor is still the reference's, the classifiers are new, and the run records
    the source and the input the weights expect ((x - 0.5) / 0.5: ImageNet's
    normalisation followed by torchvision's transform_input)."""
    reference = _reference(torch_home)
    spec = _small_spec(tmp_path, classes=3)
    data = ["--data", f"imagefolder:{_rgb_folder(tmp_path / 'images', 3, 4)}"]
    run = tmp_path / "run"
    code, output = incept(
        "train", spec, *data, "--run-dir", str(run), "--epochs", "1", "--no-progress", *CPU,
        "--batch-size", "4", "--limit-train", "4", "--workers", "0",
        "--init-from", "torchvision", "--freeze", "all-but-head",
    )  # fmt: skip
    assert code == 0, output
    assert (
        "warning: --init-from torchvision: fc.weight, fc.bias, aux1.fc2.weight, aux1.fc2.bias, "
        "aux2.fc2.weight, aux2.fc2.bias keep their fresh initialisation: the model has 3 "
        "classes, the weights another count"
    ) in output
    config = json.loads(RunDir(run).config.read_text())
    assert (config["init_from"], config["init_from_model"]) == ("torchvision", "googlenet")
    assert config["data"]["mean"] == [0.5] * 3 and config["data"]["std"] == [0.5] * 3
    theirs = reference.state_dict()
    mine = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert set(mine) == set(theirs)
    frozen = [k for k in mine if not k.startswith(("fc.", "aux"))]  # aux heads train too
    assert len(frozen) > 250  # every main-path convolution and batch norm, statistics too
    for key in frozen:
        assert torch.equal(mine[key], theirs[key]), key
    assert not torch.equal(mine["aux1.fc1.weight"], theirs["aux1.fc1.weight"])  # trained
    assert tuple(mine["fc.weight"].shape) == (3, 1024)
    code, output = incept(
        "train", spec, *data, "--run-dir", str(tmp_path / "bad"), *CPU, "--init-from", "timm"
    )
    assert code == 2
    assert output.strip().startswith(
        "--init-from timm: error[pretrained]: no timm model has the layout of the spec named "
        "'googlenet_torchvision'"
    )
    code, output = incept("train", spec, *data, "--init-from", "torchvison", *CPU)
    assert (code, output.strip()) == (
        2,
        "--init-from torchvison: error[flag]: not a source (torchvision, timm, keras) and no "
        "such run folder, checkpoint or weights file",
    )


def _preprocessed(image: np.ndarray) -> torch.Tensor:
    """torchvision's input for an RGB uint8 image: ImageNet-normalised, NCHW."""
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = (image / 255.0 - mean) / std
    return torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))


def test_predict_and_eval_with_torchvision(torch_home, tmp_path):  # noqa: F811
    """predict gives the reference's top classes (ImageNet's names) and probabilities
    for the same image, cut as torchvision's weights transforms cut it (shorter side to
    SIZE / 0.875, centre crop); eval needs the spec's class count in the data."""
    torchvision = pytest.importorskip("torchvision")
    from torchvision import transforms

    reference = _reference(torch_home)
    reference.transform_input = True  # as torchvision's pretrained googlenet has it
    pixels = np.random.default_rng(4).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    crop = transforms.Compose([transforms.Resize(SIZE * 8 // 7), transforms.CenterCrop(SIZE)])
    cropped = np.asarray(crop(Image.open(tmp_path / "x.png")))
    with torch.no_grad():
        expected = torch.softmax(reference(_preprocessed(cropped)), 1)[0].double().numpy()
        whole = torch.softmax(reference(_preprocessed(pixels)), 1)[0].double().numpy()
    order = np.argsort(-expected)[:3]
    assert np.abs(whole - expected).max() > 1e-3  # the crop shows in the probabilities
    names = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    spec = _small_spec(tmp_path)
    (item,) = _json("predict", "torchvision", str(tmp_path / "x.png"), "--spec", spec, "--top", "3", *CPU)  # fmt: skip
    assert [p["class"] for p in item["top"]] == [names[i] for i in order]
    got = [p["probability"] for p in item["top"]]
    np.testing.assert_allclose(got, expected[order], rtol=1e-4, atol=1e-7)

    code, output = incept("predict", "torchvision", str(tmp_path / "x.png"), *CPU)
    assert (code, output.strip()) == (
        2,
        "--spec: error[flag]: torchvision is a library source: name the spec its weights are "
        "for (--spec NAME|PATH)",
    )
    folder = _rgb_folder(tmp_path / "three", 3, 1)
    code, output = incept("eval", "torchvision", "--spec", spec, "--data", f"imagefolder:{folder}")
    assert (code, output.strip()) == (
        2,
        f"{spec}: error[data]: imagefolder:{folder} has 3 classes but the spec has "
        "num_classes: 1000; write a spec that extends it with `num_classes: 3`",
    )


def test_eval_a_weights_file(torch_home, tmp_path):  # noqa: F811
    """A plain state_dict with --spec and --data: torchvision's googlenet saved by hand,
    on a 1000-class spec's 3-class variant is refused; the file's classifier must fit."""
    reference = _reference(torch_home)
    torch.save(reference.state_dict(), tmp_path / "googlenet.pth")
    code, output = incept("eval", str(tmp_path / "googlenet.pth"), *CPU)
    assert (code, output.strip()) == (
        2,
        f"{tmp_path / 'googlenet.pth'}: error[checkpoint]: not an incept checkpoint; as a "
        "weights file it needs --spec, the spec they are for",
    )
    spec3 = _small_spec(tmp_path, classes=3)
    folder = _rgb_folder(tmp_path / "three", 3, 2)
    code, output = incept(
        "eval", str(tmp_path / "googlenet.pth"), "--spec", spec3, "--data",
        f"imagefolder:{folder}", *CPU,
    )  # fmt: skip
    assert code == 2
    assert output.strip() == (
        f"{tmp_path / 'googlenet.pth'}: error[pretrained]: does not fit: fc.weight is 1000x1024 "
        "in the weights, 3x1024 in the model"
    )
    head = {k: v[:3] if k.startswith("fc.") else v for k, v in reference.state_dict().items()}
    torch.save(head, tmp_path / "three.pth")  # the same network with a 3-class classifier
    summary = _json("eval", str(tmp_path / "three.pth"), "--spec", spec3, "--data", f"imagefolder:{folder}", *CPU)  # fmt: skip
    reference.fc = torch.nn.Linear(1024, 3)
    reference.fc.load_state_dict({"weight": head["fc.weight"], "bias": head["fc.bias"]})
    reference.transform_input = True
    from torchvision import transforms

    # the weights' own evaluation crop: a file of a spec with one library source is taken
    # to be that library's weights (torchvision: shorter side 256 for 224, centre crop)
    assert (summary["crop_pct"], summary["interpolation"]) == (0.875, "bilinear")
    crop = transforms.Compose([transforms.Resize(SIZE * 8 // 7), transforms.CenterCrop(SIZE)])
    images = [np.asarray(crop(Image.open(folder / "val" / f"c{k}" / f"{i}.png"))) for k in range(3) for i in range(2)]  # fmt: skip
    with torch.no_grad():
        logits = torch.cat([reference(_preprocessed(x)) for x in images])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = torch.nn.functional.cross_entropy(logits.double(), labels).item()
    assert summary["count"] == 6
    assert summary["top1"] == pytest.approx((logits.argmax(1) == labels).double().mean().item())
    assert summary["loss"] == pytest.approx(loss, rel=1e-4)


def test_predict_with_keras_applications_weights(tmp_path, monkeypatch):
    """keras.applications' InceptionV3 in Keras' cache, predicted through the Keras
    backend: the same classes and probabilities as the reference on the image after
    keras.applications' own preprocess_input (x / 127.5 - 1)."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    reference = _keras_reference("InceptionV3", tmp_path / "keras", KERAS[0][2])
    pixels = np.random.default_rng(5).integers(0, 256, (KERAS_SIZE, KERAS_SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    x = keras.applications.inception_v3.preprocess_input(pixels[None].astype("float32"))
    logits = keras.ops.convert_to_numpy(reference(x, training=False))[0].astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    order = np.argsort(-expected)[:3]
    spec = tmp_path / "v3.yaml"
    spec.write_text(
        f"extends: inception-v3-keras\ninput: {{size: {KERAS_SIZE}}}\n"
        "patch: [{row: '*', unset: [output]}]\n"
    )
    (item,) = _json("predict", "keras", str(tmp_path / "x.png"), "--spec", str(spec), "--top", "3", *CPU)  # fmt: skip
    got = [p["probability"] for p in item["top"]]
    np.testing.assert_allclose(got, expected[order], rtol=1e-4, atol=1e-7)
    torchvision = pytest.importorskip("torchvision")
    names = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    assert [p["class"] for p in item["top"]] == [names[i] for i in order]


def test_init_from_keras_applications_into_a_keras_run(tmp_path, monkeypatch):
    """keras.applications' InceptionV3 weights (1,000 classes) into a Keras run of a
    3-class variant: the body frozen at the reference's values, the classifier new, the
    input normalised as keras.applications preprocesses it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    reference = _keras_reference("InceptionV3", tmp_path / "keras", KERAS[0][2])
    spec = tmp_path / "v3.yaml"
    spec.write_text(
        f"extends: inception-v3-keras\nnum_classes: 3\ninput: {{size: {KERAS_SIZE}}}\n"
        "patch: [{row: '*', unset: [output]}]\n"
    )
    rgb = _rgb_folder(tmp_path / "images", 3, 2, KERAS_SIZE)
    run = tmp_path / "run"
    code, output = incept(
        "train", str(spec), "--data", f"imagefolder:{rgb}", "--run-dir", str(run), *CPU,
        "--epochs", "1", "--no-progress", "--batch-size", "2", "--limit-train", "2",
        "--workers", "0", "--backend", "keras", "--no-aux",
        "--init-from", "keras", "--freeze", "all-but-head",
    )  # fmt: skip
    assert code == 0, output
    assert (
        "warning: --init-from keras: fc/kernel, fc/bias keep their fresh initialisation" in output
    )
    config = json.loads(RunDir(run).config.read_text())
    assert (config["init_from"], config["init_from_model"]) == ("keras", "InceptionV3")
    assert config["data"]["mean"] == [0.5] * 3 and config["data"]["std"] == [0.5] * 3
    from incept.runtime.checkpoints import load

    mine = [w for w in load(run).model.weights if "seed_generator" not in w.path]
    theirs = reference.weights
    assert len(mine) == len(theirs)  # the same layers in the same order, aux heads off
    for ours, other in zip(mine[:-2], theirs[:-2], strict=True):  # all but the classifier
        assert np.array_equal(np.asarray(ours.numpy()), np.asarray(other.numpy())), other.path
    assert tuple(mine[-2].shape) == (2048, 3)
