"""`incept train / eval / predict` with the torch backend, end to end on a CPU.

One module-scoped run trains the tiny spec on a separable toy problem; the tests
read what it wrote. Resume and DDP run real subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image
from runchecks import check_eval_crops, check_predict, computed, incept
from torch import nn
from toydata import toy_images, write_toy_fashion

from incept.compiler.cli import main
from incept.compiler.pipeline import compile_spec
from incept.runtime.errors import InputError
from incept.runtime.rundir import RunDir
from incept.runtime.torch.loss import training_loss
from incept.runtime.torch.model import build_model, preflight

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/data/train/tiny.yaml"


def train_toy(toy: Path, out: Path, *extra: str) -> tuple[int, str]:
    """`incept train` of the tiny spec on the toy data, on the CPU."""
    return incept(
        "train", TINY, "--data", "fashion-mnist", "--data-dir", str(toy), "--out", str(out),
        "--no-progress", "--device", "cpu", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def trained(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code, output = train_toy(toy, out)
    assert code == 0, output
    return RunDir(out)


def test_tiny_spec_learns_the_toy_problem(trained: RunDir) -> None:
    rows = trained.read_metrics()
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert rows[-1]["test_acc"] >= 0.9
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    report = json.loads(trained.evaluation.read_text())
    assert report["count"] == 100 and report["top1"] == pytest.approx(rows[-1]["test_acc"])


def test_run_folder_holds_every_artifact(trained: RunDir) -> None:
    for path in (trained.config, trained.metrics, trained.model_source, trained.last, trained.best,
                 trained.curves, trained.confusion, trained.predictions, trained.evaluation,
                 trained.augmented):  # fmt: skip
        assert path.is_file(), path
    assert any(trained.tensorboard.iterdir())
    for png in (trained.curves, trained.confusion, trained.predictions, trained.augmented):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = trained.read_config()
    tiny = compile_spec(TINY)
    assert config["spec"]["sha256"] == tiny.graph.spec_sha256
    assert config["spec"]["arch_sha256"] == tiny.arch_sha256
    assert config["recipe"]["epochs"] == 6 and config["recipe"]["nesterov"] is True
    assert config["data"]["classes"][0] == "T-shirt/top"


def test_aux_losses_are_weighted_by_the_spec() -> None:
    torch.manual_seed(0)
    logits, aux = torch.randn(4, 10), torch.randn(4, 10)
    labels = torch.tensor([1, 2, 3, 4])
    loss, main_logits = training_loss((logits, aux), labels, [0.3], 0.0)
    want = F.cross_entropy(logits, labels) + 0.3 * F.cross_entropy(aux, labels)
    assert torch.equal(main_logits, logits)
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


def test_label_smoothing_reaches_the_loss() -> None:
    logits, labels = torch.randn(4, 10), torch.tensor([0, 1, 2, 3])
    smooth, _ = training_loss(logits, labels, [], 0.1)
    assert smooth.item() == pytest.approx(
        F.cross_entropy(logits, labels, label_smoothing=0.1).item(), rel=1e-6
    )
    assert smooth.item() != pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-3)


def test_aux_heads_train_and_are_absent_in_eval(tmp_path: Path) -> None:
    tiny = compile_spec(TINY)
    model = build_model(tiny, tmp_path, aux=True)
    x = torch.randn(2, 1, 16, 16)
    out = model.train()(x)
    assert len(out) == 2 and out[1].shape == (2, 10)
    assert model.eval()(x).shape == (2, 10)


def test_preflight_catches_a_wrong_parameter_count(tmp_path: Path) -> None:
    tiny = compile_spec(TINY)
    model = build_model(tiny, tmp_path, aux=False)
    model.extra = nn.Linear(2, 2)
    with pytest.raises(
        InputError,
        match=r"error\[preflight\]: the built model has 1,432 parameters, the compiler predicts 1,426",
    ):
        preflight(model, tiny.graph, TINY)


def test_preflight_catches_a_wrong_shape(tmp_path: Path) -> None:
    tiny = compile_spec(TINY)
    model = build_model(tiny, tmp_path, aux=False)
    model.pool1 = nn.Identity()  # no parameters: only the shapes can tell
    with pytest.raises(InputError, match=r"pool1 produced 16x16x16, the compiler predicts 16x8x8"):
        preflight(model, tiny.graph, TINY)


def test_eval_crops_on_the_trained_run(trained: RunDir) -> None:
    check_eval_crops(trained)


def test_predict_names_the_class_of_a_png(trained: RunDir, tmp_path: Path) -> None:
    check_predict(trained, tmp_path)


# -- bad input: one line, exit 2, nothing written ---------------------------------


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = incept(
        "train",
        TINY,
        "--data",
        "fashion-mnist",
        "--data-dir",
        str(tmp_path / "none"),
        "--out",
        str(out),
    )
    assert code == 2 and len(output.strip().splitlines()) == 1
    assert "error[data]" in output and "apt-get install dataset-fashion-mnist" in output
    assert not out.exists()


def test_unknown_dataset(tmp_path: Path) -> None:
    code, output = incept("train", TINY, "--data", "mnist2", "--out", str(tmp_path / "r"))
    assert code == 2 and "error[data]" in output and "fashion-mnist" in output


def test_resume_with_nothing_to_resume(toy: Path, tmp_path: Path) -> None:
    code, output = train_toy(toy, tmp_path / "r", "--resume")
    assert code == 2 and "error[resume]" in output and "nothing to resume" in output
    assert not (tmp_path / "r").exists()


def test_a_finished_run_is_not_overwritten(trained: RunDir, toy: Path) -> None:
    before = trained.last.read_bytes()
    code, output = train_toy(toy, trained.path)
    assert code == 2 and "pass --resume" in output
    assert trained.last.read_bytes() == before


def test_checkpoint_of_another_spec_is_refused(trained: RunDir, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(
        (ROOT / TINY)
        .read_text()
        .replace(
            "ch3x3: 8, pool_proj: 8, output: 8x8x24", "ch3x3: 10, pool_proj: 8, output: 8x8x26"
        )
    )
    code, output = incept("eval", str(trained.last), "--spec", str(other), "--device", "cpu")
    assert code == 2 and "error[checkpoint]" in output and "differs from this spec" in output


def test_corrupt_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    code, output = incept("eval", str(bad), "--device", "cpu")
    assert code == 2 and output.startswith(f"{bad}: error[checkpoint]: ")


def test_unreadable_image(trained: RunDir, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, output = incept("predict", str(trained.last), str(bad), "--device", "cpu")
    assert code == 2 and output.startswith(f"{bad}: error[image]: ")


def test_predict_a_folder_predicts_every_image_under_it(trained: RunDir, tmp_path: Path) -> None:
    """A folder stands for its image files at any depth, sorted; one that holds none, a
    missing file or a broken image anywhere is one line, and nothing else is printed."""
    images, _ = toy_images(3, seed=5)
    for i, name in enumerate(["b/1.png", "a/2.jpg", "a/0.png"]):
        (tmp_path / "imgs" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(tmp_path / "imgs" / name)
    (tmp_path / "imgs" / "a" / "notes.txt").write_text("not an image")
    code, output = incept("predict", str(trained.last), str(tmp_path / "imgs"), "--format", "json", "--device", "cpu")  # fmt: skip
    assert code == 0, output
    names = [Path(r["image"]).relative_to(tmp_path / "imgs").as_posix() for r in json.loads(output)]
    assert names == ["a/0.png", "a/2.jpg", "b/1.png"]
    (tmp_path / "empty").mkdir()
    for bad, message in [
        (tmp_path / "empty", "no images (.png, .jpg, .jpeg, .bmp, .webp) in this folder"),
        (tmp_path / "none.png", "no such file"),
    ]:
        code, output = incept("predict", str(trained.last), str(tmp_path / "imgs"), str(bad))
        assert (code, output) == (2, f"{bad}: error[image]: {message}\n")
    (tmp_path / "imgs" / "b" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, output = incept("predict", str(trained.last), str(tmp_path / "imgs"), "--device", "cpu")
    assert code == 2 and output.startswith(f"{tmp_path / 'imgs' / 'b' / '2.png'}: error[image]: ")
    assert output.count("\n") == 1  # the images before it printed nothing


def test_bad_flag_value(toy: Path, tmp_path: Path) -> None:
    code, output = train_toy(toy, tmp_path / "r", "--lr", "-1")
    assert code == 2 and output.startswith("--lr: error[flag]: ")
    assert not (tmp_path / "r").exists()


def test_data_that_does_not_fit_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "three.yaml"
    shutil.copy(ROOT / TINY, tmp_path / "tiny.yaml")  # extends stays inside the spec's folder
    spec.write_text("extends: tiny.yaml\nname: three\nnum_classes: 3\n")
    toy = write_toy_fashion(tmp_path / "toy", train=40, test=10)
    code, output = incept(
        "train",
        str(spec),
        "--data",
        "fashion-mnist",
        "--data-dir",
        str(toy),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2 and "error[data]" in output and "10 classes" in output


# -- resume after SIGKILL, and DDP: real processes -----------------------------------


def _train_argv(toy: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from incept.compiler.cli import main; main()", "train", TINY,
            "--data", "fashion-mnist", "--data-dir", str(toy), "--out", str(out), "--epochs", "5",
            "--no-progress", "--device", "cpu", "--seed", "3", *extra]  # fmt: skip


def _weights(run: RunDir) -> dict[str, torch.Tensor]:
    return torch.load(run.last, weights_only=True)["model"]


def test_resume_after_sigkill_matches_an_uninterrupted_run(toy: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole, broken = RunDir(tmp_path / "whole"), RunDir(tmp_path / "broken")
    subprocess.run(_train_argv(toy, whole.path), check=True, cwd=ROOT, env=env, capture_output=True)
    proc = subprocess.Popen(
        _train_argv(toy, broken.path),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if broken.metrics.exists() and len(rows := broken.read_metrics()) >= 2:
            time.sleep(rows[-1]["epoch_s"] / 2)  # into the middle of epoch 3
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(broken.read_metrics())
    assert 2 <= finished < 5, "the kill should land before the last epoch"
    subprocess.run(
        [*_train_argv(toy, broken.path), "--resume"],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert computed(broken) == computed(whole)
    a, b = _weights(whole), _weights(broken)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(
    shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
    reason="torchrun not installed",
)
def test_ddp_on_gloo_trains_and_ranks_agree(toy: Path, tmp_path: Path) -> None:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "ddp"
    argv = [torchrun, "--standalone", "--nproc_per_node=2", str(ROOT / "tests" / "ddp_worker.py"), TINY,
            "--data", "fashion-mnist", "--data-dir", str(toy), "--out", str(out), "--epochs", "2",
            "--no-progress", "--device", "cpu", "--ema", "0.9"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.params.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert any(k.startswith("average.") for k in ranks[0])  # each rank's average agrees too
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    rows = RunDir(out).read_metrics()
    assert (
        len(rows) == 2 and json.loads(RunDir(out).config.read_text())["runtime"]["world_size"] == 2
    )
    assert np.isfinite(rows[-1]["train_loss"])


def test_a_usage_error_is_one_line(tmp_path: Path) -> None:
    argv = ["train", TINY, "--data", "fashion-mnist", "--epochs", "x"]
    result = CliRunner().invoke(main, argv, prog_name="incept")
    assert result.exit_code == 2
    assert result.output == (
        "incept train: error[usage]: Invalid value for '--epochs': 'x' is not a valid integer."
        " (see 'incept train --help')\n"
    )


def test_a_bug_in_the_runtime_is_one_internal_line(
    monkeypatch: pytest.MonkeyPatch, toy: Path, tmp_path: Path
) -> None:
    from incept.runtime import train as job

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(job, "make_job", broken)
    code, output = train_toy(toy, tmp_path / "r")
    assert code == 3
    assert output.startswith(f"{TINY}: error[internal]: RuntimeError: boom (a bug in incept")
    assert len(output.splitlines()) == 1
