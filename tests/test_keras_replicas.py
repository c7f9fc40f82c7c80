"""`incept train --backend keras --replicas N`: data-parallel Keras on two logical CPU devices.

Splitting the CPU must happen before TensorFlow starts, so the distributed run is a
real process. Without batch norm and dropout (whose statistics and masks are per
replica) two replicas of batch 8 must train exactly what one device of batch 16
trains: the same batches, the same summed gradients, the same schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from runchecks import computed, incept  # noqa: E402
from toydata import write_toy_fashion  # noqa: E402

from incept.runtime import checkpoints  # noqa: E402
from incept.runtime.rundir import RunDir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests/data/train/tiny.yaml"
ONE_EPOCH = ("--epochs", "1", "--lr", "0.05")
CLI = "from incept.compiler.cli import main; main()"


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny spec without batch norm and dropout."""
    text = TINY.read_text()
    for old, new in [
        ("norm: bn", "norm: none"),
        ("  - {name: dropout, op: dropout, p: 0.2}\n", ""),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("spec") / "plain.yaml"
    path.write_text(text)
    return path


def train_args(spec: Path, toy: Path, out: Path, *extra: str) -> list[str]:
    return ["train", str(spec), "--backend", "keras", "--data", "fashion-mnist", "--data-dir",
            str(toy), "--run-dir", str(out), "--no-progress", "--device", "cpu",
            "--epochs", "2", *extra]  # fmt: skip


def train_in_a_process(args: list[str], fault: str = "") -> subprocess.CompletedProcess[str]:
    """`incept train ARGS` in a new process; with `fault` (faultrun.py's KIND@N) injected."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, "-c", CLI, *args]
    if fault:
        env.update(INCEPT_TEST_FAULT=fault, INCEPT_TEST_BACKEND="keras")
        command = [sys.executable, str(ROOT / "tests" / "faultrun.py"), *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def weights(run: RunDir) -> list[np.ndarray]:
    return [np.asarray(w) for w in checkpoints.load(run.last, None, "cpu").model.weights]


def test_two_replicas_train_what_one_device_trains_on_the_global_batch(
    plain: Path, toy: Path, tmp_path: Path
) -> None:
    two, one = RunDir(tmp_path / "two", ".keras"), RunDir(tmp_path / "one", ".keras")
    done = train_in_a_process(
        train_args(plain, toy, two.path, *ONE_EPOCH, "--replicas", "2", "--batch-size", "8")
    )
    assert done.returncode == 0, done.stderr
    code, output = incept(*train_args(plain, toy, one.path, *ONE_EPOCH, "--batch-size", "16"))
    assert code == 0, output

    config = json.loads((two.path / "config.json").read_text())
    assert config["runtime"]["replicas"] == 2 and config["recipe"]["batch_size"] == 8
    rows_two, rows_one = computed(two), computed(one)
    assert [r["epoch"] for r in rows_two] == [1]
    for a, b in zip(rows_two, rows_one, strict=True):
        assert a["lr"] == b["lr"]  # the same steps per epoch: 640 // 16
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)
    for a, b in zip(weights(two), weights(one), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)  # float sums in another order


def test_replicas_stopped_mid_epoch_resume_exactly(toy: Path, tmp_path: Path) -> None:
    """SIGTERM in epoch 1 of a two-replica run with batch norm, dropout and weight
    averaging (updated under the strategy), then --resume: the metrics of an
    uninterrupted two-replica run."""
    args = ("--replicas", "2", "--batch-size", "8", "--limit-train", "320", "--ema", "0.9")
    stopped, whole = RunDir(tmp_path / "stopped", ".keras"), RunDir(tmp_path / "whole", ".keras")
    done = train_in_a_process(train_args(TINY, toy, stopped.path, *args), fault="sigterm@12")
    assert done.returncode == 143, done.stderr
    assert stopped.last.exists() and not (stopped.path / "metrics.csv").exists()  # in epoch 1
    resumed = train_in_a_process(train_args(TINY, toy, stopped.path, *args, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    done = train_in_a_process(train_args(TINY, toy, whole.path, *args))
    assert done.returncode == 0, done.stderr
    assert computed(stopped) == computed(whole)
    steps = len(computed(whole)) * (320 // 16)  # epochs x global batches of 16
    assert checkpoints.load(whole.last, None, "cpu").state["ema_updates"] == steps


def test_torch_points_at_torchrun(plain: Path, toy: Path, tmp_path: Path) -> None:
    args = train_args(plain, toy, tmp_path / "t", "--replicas", "2")
    args[args.index("keras")] = "torch"
    code, output = incept(*args)
    assert code == 2
    assert (
        "--replicas: error[flag]: is for keras; torch trains data-parallel under torchrun" in output
    )
    assert "torchrun --nproc-per-node 2" in output and "\n" not in output.strip()
    assert not (tmp_path / "t").exists()


def test_too_late_to_split_the_cpu_is_one_line(plain: Path, toy: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    tf.config.list_logical_devices("CPU")  # TensorFlow has started in this process
    code, output = incept(*train_args(plain, toy, tmp_path / "k", "--replicas", "3"))
    assert code == 2
    assert "--replicas: error[flag]: TensorFlow has already started in this process" in output
