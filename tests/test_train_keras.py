"""`incept train / eval / predict / convert` with the Keras backend, end to end on a CPU.

One module-scoped run trains the tiny spec on the separable toy problem with
`--backend keras`; most tests read what it wrote. The recipe's pieces (SGD with
coupled weight decay, the schedule, label smoothing) are checked number for number
against torch's, and checkpoints are moved between the frameworks and evaluated.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from runchecks import check_eval_crops, check_predict, computed, incept  # noqa: E402
from toydata import toy_images, write_toy_fashion  # noqa: E402

from incept.compiler.pipeline import compile_spec  # noqa: E402
from incept.compiler.spec.schema import Augment, Training  # noqa: E402
from incept.runtime.data import ArraySplit  # noqa: E402
from incept.runtime.data.images import read_image  # noqa: E402
from incept.runtime.errors import InputError  # noqa: E402
from incept.runtime.evaluation import test_probs as probs_of  # noqa: E402
from incept.runtime.journal import Journal  # noqa: E402
from incept.runtime.rundir import RunDir  # noqa: E402
from incept.runtime.schedule import lr_factor  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="Keras training runs on TensorFlow"
)

from incept.runtime import checkpoints  # noqa: E402
from incept.runtime.keras import checkpoint  # noqa: E402
from incept.runtime.keras.batches import Batches  # noqa: E402
from incept.runtime.keras.model import (  # noqa: E402
    build_model,
    logits_function,  # noqa: E402
    preflight,
)
from incept.runtime.keras.optim import (  # noqa: E402
    CrossEntropy,
    LRSchedule,
    TorchSGD,
    compile_model,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/data/train/tiny.yaml"
#: Softmax probabilities of the same weights in torch and in Keras/TF differ by float32
#: rounding in different kernels (and TF's vs torch's antialiased 28 -> 16 resize).
PROB_TOL = 2e-5


def train_args(toy: Path, out: Path, *extra: str) -> list[str]:
    return ["train", TINY, "--backend", "keras", "--data", "fashion-mnist", "--data-dir",
            str(toy), "--out", str(out), "--no-progress", "--device", "cpu", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def trained(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    out = tmp_path_factory.mktemp("runs") / "tiny-keras"
    code, output = incept(*train_args(toy, out))
    assert code == 0, output
    return RunDir(out, ".keras")


def test_tiny_spec_learns_the_toy_problem(trained: RunDir) -> None:
    rows = trained.read_metrics()
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert rows[-1]["test_acc"] >= 0.9
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] / 2
    report = json.loads(trained.evaluation.read_text())
    assert report["count"] == 100 and report["top1"] == pytest.approx(rows[-1]["test_acc"])
    assert report["loss"] == pytest.approx(rows[-1]["test_loss"], rel=1e-5)


def test_run_folder_holds_every_artifact(trained: RunDir) -> None:
    for path in (trained.config, trained.metrics, trained.model_source, trained.last, trained.best,
                 trained.curves, trained.confusion, trained.predictions, trained.evaluation,
                 trained.augmented):  # fmt: skip
        assert path.is_file(), path
    assert trained.last.name == "last.keras" and any(trained.tensorboard.iterdir())
    assert not list(trained.last.parent.glob(".*")), "no temporary checkpoint is left behind"
    for png in (trained.curves, trained.confusion, trained.predictions, trained.augmented):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = trained.read_config()
    tiny = compile_spec(TINY)
    assert config["backend"] == "keras" and config["runtime"]["keras_backend"] == "tensorflow"
    assert config["spec"]["arch_sha256"] == tiny.arch_sha256
    assert config["runtime"]["compile"] is False and config["runtime"]["autocast"] == "fp32"
    assert "import keras" in trained.model_source.read_text()
    # the identity inside the archive is the run's, with the epoch and the history
    state = checkpoint.read_state(trained.last)
    for key in ("spec", "recipe", "data", "backend"):
        assert state[key] == config[key], key
    assert state["epoch"] == 6 and len(state["history"]) == 6
    with zipfile.ZipFile(trained.last) as archive:
        assert {"config.json", "model.weights.h5", "incept.json"} <= set(archive.namelist())


def test_checkpoint_is_a_normal_keras_file(trained: RunDir) -> None:
    """keras.models.load_model reads it, optimizer state included, once model.py is imported."""
    from incept.runtime.model_source import import_source

    import_source(trained.model_source.read_text(), trained.model_source)
    model = keras.models.load_model(trained.last)
    steps = 640 // 16
    assert int(model.optimizer.iterations) == 6 * steps
    assert isinstance(model.optimizer, TorchSGD) and model.optimizer.nesterov


# -- the recipe means what it means in torch ------------------------------------------


def test_aux_loss_weights_reach_compile(tmp_path: Path) -> None:
    tiny = compile_spec(TINY)
    model = build_model(tiny, tmp_path, aux=True)
    recipe = Training(label_smoothing=0.1)
    compile_model(model, recipe, 10, [0.3], jit_compile=False)
    assert model.get_compile_config()["loss_weights"] == [1.0, 0.3]
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 1)).astype("float32")
    y = np.array([1, 2, 3, 4])
    main_out, aux_out = (np.asarray(o) for o in model(x, training=False))
    total = float(model.compute_loss(x=x, y=[y, y], y_pred=[main_out, aux_out]))

    def ce(logits: np.ndarray) -> float:
        return F.cross_entropy(
            torch.tensor(logits), torch.from_numpy(y), label_smoothing=0.1
        ).item()

    assert total == pytest.approx(ce(main_out) + 0.3 * ce(aux_out), rel=1e-5)
    # evaluation sees the main output only
    assert logits_function(model)(x).shape == (4, 10)


def test_label_smoothing_matches_torch() -> None:
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(6, 10)).astype("float32"), np.array([0, 1, 2, 3, 9, 5])
    for smoothing in (0.0, 0.1, 0.3):
        ours = float(CrossEntropy(smoothing)(labels, logits))
        want = F.cross_entropy(
            torch.from_numpy(logits), torch.from_numpy(labels), label_smoothing=smoothing
        ).item()
        assert ours == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize(
    "recipe",
    [
        Training(schedule="paper", epochs=20, step_epochs=2, gamma=0.96),
        Training(schedule="cosine", epochs=5, warmup_epochs=1),
        Training(schedule="onecycle", epochs=4),
        Training(schedule="constant", epochs=3, warmup_epochs=0.5),
    ],
    ids=["paper", "cosine", "onecycle", "constant"],
)
def test_schedule_per_step_equals_torch_lambdalr(recipe: Training) -> None:
    steps = 7
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(recipe, s, steps))
    schedule = LRSchedule(recipe.model_dump(mode="json"), steps)
    for step in range(recipe.epochs * steps):
        assert float(schedule(step)) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-6)
        optimizer.step()
        scheduler.step()


def test_trained_lr_per_epoch_equals_torch(trained: RunDir) -> None:
    recipe = Training.model_validate(trained.read_config()["recipe"])
    steps = 640 // recipe.batch_size
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(recipe, s, steps))
    torch_lrs = []
    for _ in range(recipe.epochs):
        torch_lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
    keras_lrs = [row["lr"] for row in trained.read_metrics()]
    assert keras_lrs == pytest.approx(torch_lrs, rel=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_torch_sgd_is_torch_sgd(nesterov: bool) -> None:
    """Coupled weight decay on weights only, momentum buffer of gradients, moving lr."""
    rng = np.random.default_rng(2)
    w0, b0 = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    grads = [(rng.normal(size=(3, 4)), rng.normal(size=4)) for _ in range(5)]
    lrs = [0.1, 0.3, 0.2, 0.05, 0.01]
    tw, tb = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))
    groups = [{"params": [tw], "weight_decay": 0.01}, {"params": [tb], "weight_decay": 0.0}]
    reference = torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=nesterov)
    kw, kb = keras.Variable(w0), keras.Variable(b0)
    lr = keras.Variable(0.1)
    ours = TorchSGD(learning_rate=0.1, momentum=0.9, nesterov=nesterov, l2=0.01)
    ours.build([kw, kb])
    for (gw, gb), step_lr in zip(grads, lrs, strict=True):
        for group in reference.param_groups:
            group["lr"] = step_lr
        tw.grad, tb.grad = (
            torch.tensor(gw, dtype=torch.float32),
            torch.tensor(gb, dtype=torch.float32),
        )
        reference.step()
        lr.assign(step_lr)
        ours.learning_rate = step_lr
        ours.apply([gw.astype("float32"), gb.astype("float32")], [kw, kb])
    np.testing.assert_allclose(np.asarray(kw), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(kb), tb.detach().numpy(), rtol=1e-5, atol=1e-6)


# -- input pipeline -------------------------------------------------------------------


def test_batches_are_deterministic_per_seed_and_epoch() -> None:
    images, labels = toy_images(64, seed=3)
    split = ArraySplit(images[..., None], labels.astype(np.int64))
    augment = Augment(crop_padding=2, flip=True, erasing=0.5, scale=[0.3, 1])

    def epoch(seed: int, e: int) -> list[np.ndarray]:
        b = Batches(split, True, 16, (16, 16), [0.1], [0.2], augment, seed)
        return [np.asarray(x) for x, _ in b.epoch(e)]

    first = epoch(0, 1)
    assert len(first) == 4 and first[0].shape == (16, 16, 16, 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, epoch(0, 1), strict=True))
    assert not np.array_equal(first[0], epoch(0, 2)[0])
    assert not np.array_equal(first[0], epoch(1, 1)[0])


def test_scale_crop_samples_the_points_torch_samples() -> None:
    """The scale crop in TensorFlow (crop_and_resize) and in torch (affine_grid and
    grid_sample) resample the same boxes to the same pixels, and TensorFlow draws its
    boxes from the same ranges and distribution (4,000 boxes, against torch's)."""
    import tensorflow as tf

    from incept.runtime.keras.batches import resample, scale_boxes
    from incept.runtime.torch import batches as torch_batches

    images = np.random.default_rng(5).random((3, 12, 15, 2)).astype(np.float32)
    boxes = np.array([[0, 0, 12, 15], [2, 3, 6, 9], [5, 1, 7, 4]], dtype=np.float32)
    got = np.asarray(resample(tf.constant(images), tf.constant(boxes)))
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    want = torch_batches.resample(x, torch.from_numpy(boxes)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got[0], images[0], atol=1e-5)  # the whole image: itself

    augment = Augment(scale=[0.08, 1.0])
    seed = tf.constant([3, 4], dtype=tf.int64)
    ours = np.asarray(scale_boxes(tf.zeros((4000, 28, 28, 1)), augment, seed))
    top, left, h, w = ours.T
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all()
    )
    g = torch.Generator().manual_seed(0)
    theirs = torch_batches.scale_boxes((4000, 1, 28, 28), augment, g, torch.device("cpu")).numpy()
    area, their_area = h * w / 28**2, theirs[:, 2] * theirs[:, 3] / 28**2
    assert area.min() >= 0.06 and abs(area.mean() - their_area.mean()) < 0.015
    assert abs(np.log(w / h).mean() - np.log(theirs[:, 3] / theirs[:, 2]).mean()) < 0.015


def test_a_batch_shown_as_pixels_is_the_images() -> None:
    from incept.runtime.augment import as_pixels

    images, _ = toy_images(16, seed=6)
    split = ArraySplit(images[..., None], np.arange(16))  # labels name the rows
    size = images.shape[1:3]  # no resize
    x, y = next(iter(Batches(split, True, 16, size, [0.2], [0.3], None, 0).epoch(0)))
    pixels = as_pixels(np.asarray(x), [0.2], [0.3])
    np.testing.assert_array_equal(pixels, split.images[np.asarray(y)])


def test_crop_is_a_zero_padded_shift() -> None:
    images, labels = toy_images(32, seed=4)
    split = ArraySplit(images[..., None], labels.astype(np.int64))
    plain = Batches(split, True, 32, (28, 28), [0.0], [1.0], None, 0)
    shifted = Batches(split, True, 32, (28, 28), [0.0], [1.0], Augment(crop_padding=3), 0)
    (x, y), (xs, ys) = next(iter(plain.epoch(0))), next(iter(shifted.epoch(0)))
    assert np.array_equal(np.asarray(y), np.asarray(ys))
    x, xs = np.asarray(x)[..., 0], np.asarray(xs)[..., 0]
    moved = 0
    for a, b in zip(x, xs, strict=True):
        padded = np.pad(a, 3)
        hits = [(dy, dx) for dy in range(7) for dx in range(7)
                if np.array_equal(padded[dy : dy + 28, dx : dx + 28], b)]  # fmt: skip
        assert hits, "every augmented image is a window of the zero-padded original"
        moved += hits[0] != (3, 3)
    assert moved > 16


# -- preflight --------------------------------------------------------------------------


def _variant(tmp_path: Path, *changes: tuple[str, str]) -> str:
    path = tmp_path / "variant.yaml"
    text = (ROOT / TINY).read_text()
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return str(path)


def test_preflight_catches_a_wrong_parameter_count(tmp_path: Path) -> None:
    other = _variant(
        tmp_path,
        ("ch3x3: 8, pool_proj: 8, output: 8x8x24", "ch3x3: 10, pool_proj: 8, output: 8x8x26"),
    )
    model = build_model(compile_spec(other), tmp_path, aux=False)
    with pytest.raises(
        InputError, match=r"error\[preflight\]: the built model has 1,5\d\d trainable"
    ):
        preflight(model, compile_spec(TINY).graph, TINY)


def test_preflight_catches_a_wrong_shape(tmp_path: Path) -> None:
    other = _variant(
        tmp_path,
        ("{name: pool1, op: maxpool, kernel: 2, stride: 2, output: 8x8x16}",
         "{name: pool1, op: maxpool, kernel: 1, stride: 1}"),
        (", output: 8x8x24}", "}"),
    )  # fmt: skip
    model = build_model(compile_spec(other), tmp_path, aux=False)
    with pytest.raises(InputError, match=r"pool1 produced 16x16x16, the compiler predicts 8x8x16"):
        preflight(model, compile_spec(TINY).graph, TINY)


# -- resume -----------------------------------------------------------------------------


class Killed(BaseException):
    """A kill, not an error: like KeyboardInterrupt it passes the CLI's error guard."""


def _weights(path: Path, tmp: Path) -> list[np.ndarray]:
    model = checkpoints.load(path, None, "cpu").model
    return [np.asarray(w) for w in model.weights]


def test_resume_continues_from_the_saved_epoch_and_optimizer(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, broken = RunDir(tmp_path / "whole", ".keras"), RunDir(tmp_path / "broken", ".keras")
    extra = ("--epochs", "3", "--seed", "3", "--erasing", "0.5", "--flip")
    assert incept(*train_args(toy, whole.path, *extra))[0] == 0
    record = Journal.record

    def interrupted(self: Journal, row: dict[str, float]) -> None:
        record(self, row)
        if row["epoch"] == 2:
            raise Killed  # as if killed after epoch 2's checkpoint

    monkeypatch.setattr(Journal, "record", interrupted)
    with pytest.raises(Killed):
        incept(*train_args(toy, broken.path, *extra))
    monkeypatch.undo()
    saved = checkpoint.read_state(broken.last)
    assert saved["epoch"] == 2 and len(broken.read_metrics()) == 2
    # the optimizer state is in the checkpoint: step count and momentum buffers
    from incept.runtime.model_source import import_source

    import_source(broken.model_source.read_text(), broken.model_source)
    full = keras.models.load_model(broken.last)
    assert int(full.optimizer.iterations) == 2 * (640 // 16)
    assert any(np.abs(np.asarray(m)).sum() > 0 for m in full.optimizer.momentums)

    code, output = incept(*train_args(toy, broken.path, *extra, "--resume"))
    assert code == 0, output
    assert computed(broken) == computed(whole)
    a, b = _weights(whole.last, tmp_path), _weights(broken.last, tmp_path)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# -- eval, predict, convert ----------------------------------------------------------------


def test_eval_crops_on_the_trained_run(trained: RunDir) -> None:
    check_eval_crops(trained)


def test_predict_names_the_class_of_a_png(trained: RunDir, tmp_path: Path) -> None:
    check_predict(trained, tmp_path)


def _test_split(toy: Path) -> ArraySplit:
    from incept.runtime.data.sources import open_data

    return open_data("fashion-mnist", str(toy)).test  # type: ignore[return-value]


def test_keras_checkpoint_converted_to_torch_predicts_the_same(
    trained: RunDir, toy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "from-keras.pt"
    code, output = incept("convert", str(trained.path), "--to", "torch", "-o", str(out))
    assert code == 0 and output.strip() == f"wrote {out}", output
    evals = {}
    for path in (trained.last, out):
        code, output = incept("eval", str(path), "--json", "--device", "cpu")
        assert code == 0, output
        evals[path.suffix] = json.loads(output)
    assert evals[".pt"]["top1"] == evals[".keras"]["top1"]
    assert evals[".pt"]["confusion"] == evals[".keras"]["confusion"]
    assert evals[".pt"]["loss"] == pytest.approx(evals[".keras"]["loss"], rel=1e-4)
    split = _test_split(toy)
    pk, yk = probs_of(checkpoints.load(trained.last, None, "cpu"), split, crops=1, batch_size=64)
    pt, yt = probs_of(checkpoints.load(out, None, "cpu"), split, crops=1, batch_size=64)
    assert np.array_equal(yk, yt) and np.array_equal(pk.argmax(1), pt.argmax(1))
    assert np.abs(pk - pt).max() < PROB_TOL


def test_torch_checkpoint_converted_to_keras_predicts_the_same(toy: Path, tmp_path: Path) -> None:
    run = tmp_path / "torch-run"
    code, output = incept(
        "train", TINY, "--data", "fashion-mnist", "--data-dir", str(toy), "--out", str(run),
        "--no-progress", "--device", "cpu", "--epochs", "2",
    )  # fmt: skip
    assert code == 0, output
    out = tmp_path / "from-torch.keras"
    assert incept("convert", str(run), "--to", "keras", "-o", str(out))[0] == 0
    assert checkpoint.read_state(out)["converted_from"]["backend"] == "torch"
    evals = [
        json.loads(incept("eval", str(p), "--json", "--device", "cpu")[1])
        for p in (RunDir(run).last, out)
    ]
    assert evals[0]["top1"] == evals[1]["top1"] and evals[0]["confusion"] == evals[1]["confusion"]
    split = _test_split(toy)
    pt, _ = probs_of(checkpoints.load(RunDir(run).last, None, "cpu"), split, crops=1, batch_size=64)
    pk, _ = probs_of(checkpoints.load(out, None, "cpu"), split, crops=1, batch_size=64)
    assert np.abs(pk - pt).max() < PROB_TOL


# -- bad input: one line, exit 2 ---------------------------------------------------------


def test_a_finished_run_is_not_overwritten(trained: RunDir, toy: Path) -> None:
    before = trained.last.read_bytes()
    code, output = incept(*train_args(toy, trained.path))
    assert code == 2 and "pass --resume" in output
    assert trained.last.read_bytes() == before


def test_resume_with_nothing_to_resume(toy: Path, tmp_path: Path) -> None:
    code, output = incept(*train_args(toy, tmp_path / "r", "--resume"))
    assert code == 2 and "error[resume]" in output and "no last.keras here" in output


def test_resume_with_a_changed_recipe(trained: RunDir, toy: Path) -> None:
    code, output = incept(*train_args(toy, trained.path, "--resume", "--lr", "0.01"))
    assert code == 2 and "error[resume]" in output and "these differ: lr" in output


def test_corrupt_and_foreign_keras_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip at all")
    code, output = incept("eval", str(bad), "--device", "cpu")
    assert code == 2 and output.startswith(f"{bad}: error[checkpoint]: not a readable Keras")
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(plain)
    code, output = incept("eval", str(plain), "--device", "cpu")
    assert code == 2 and "not an incept checkpoint" in output


def test_convert_refuses_bad_targets(trained: RunDir, tmp_path: Path) -> None:
    code, output = incept(
        "convert", str(trained.last), "--to", "keras", "-o", str(tmp_path / "x.keras")
    )
    assert code == 2 and "is a keras checkpoint already" in output
    code, output = incept(
        "convert", str(trained.last), "--to", "torch", "-o", str(tmp_path / "x.keras")
    )
    assert code == 2 and output.startswith("--output: error[flag]: ")


def test_image_files_are_read_by_threads_and_errors_stay_input_errors(tmp_path: Path) -> None:
    from incept.runtime.data import FileSplit, Resize

    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((10, 12), 60 * i, np.uint8)).save(path)
        paths.append(path)
    split = FileSplit(tuple(paths), np.array([0, 1, 2, 3]))
    batches = Batches(split, False, 3, (8, 8), [0.0], [1.0], None, 0, workers=2)
    got = [(np.asarray(x), np.asarray(y)) for x, y in batches.epoch(0)]
    assert [x.shape for x, _ in got] == [(3, 8, 8, 1), (1, 8, 8, 1)]
    assert np.concatenate([y for _, y in got]).tolist() == [0, 1, 2, 3]
    assert np.allclose(got[0][0][1], 60 / 255, atol=1e-6)  # a flat image stays flat
    ramp = np.tile(np.arange(12, dtype=np.uint8) * 20, (10, 1))  # columns differ: crops do
    Image.fromarray(ramp).save(paths[0])
    centre = Batches(replace(split, resize=Resize(0.5)), False, 4, (8, 8), [0.0], [1.0], None, 0)
    ((x, _),) = [(np.asarray(x), y) for x, y in centre.epoch(0)]
    want = read_image(paths[0], channels=1, size=(8, 8), resize=Resize(0.5)) / 255
    assert np.allclose(x[0], want, atol=1e-6) and not np.allclose(x[0], got[0][0][0], atol=1e-2)
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    broken = Batches(split, False, 3, (8, 8), [0.0], [1.0], None, 0, workers=2)
    with pytest.raises(InputError, match=r"2\.png: error\[image\]"):
        try:
            list(broken.epoch(0))
        except Exception:
            broken.raise_failed()
            raise


def test_bad_device_leaves_no_run_folder(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = train_args(toy, out)
    args[args.index("--device") + 1] = "tpu"
    code, output = incept(*args)
    assert code == 2 and output.startswith("--device: error[flag]: unknown device 'tpu'")
    assert not out.exists()
