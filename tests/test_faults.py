"""Faults a training run must survive, injected into real `incept train` processes
(tests/faultrun.py), for both frameworks: NaN, SIGTERM and resume, a kill inside the
checkpoint write, a full disk; and what the run folder holds afterwards."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from runchecks import computed
from toydata import write_toy_fashion

from incept.runtime.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/data/train/tiny.yaml"
STEPS = 20  # 320 images / batch 16: training steps per epoch
BACKENDS = ("torch", "keras")
SUFFIX = {"torch": ".pt", "keras": ".keras"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"), train=320, test=40)


def train(
    toy: Path, backend: str, run: Path, *extra: str, fault: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [TINY, "--data", "fashion-mnist", "--data-dir", str(toy), "--run-dir", str(run),
            "--epochs", "2", "--no-progress", "--device", "cpu", "--seed", "5",
            "--backend", backend, *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    if fault:
        command = [sys.executable, str(ROOT / "tests" / "faultrun.py"), "train", *argv]
        env.update(INCEPT_TEST_FAULT=fault, INCEPT_TEST_BACKEND=backend)
    else:
        command = [
            sys.executable,
            "-c",
            "from incept.compiler.cli import main; main()",
            "train",
            *argv,
        ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _weights(run: RunDir, backend: str) -> dict[str, object]:
    """The last checkpoint's weights as arrays by name."""
    if backend == "torch":
        import torch

        return {k: v.numpy() for k, v in torch.load(run.last, weights_only=True)["model"].items()}
    import zipfile

    import h5py  # Keras' own weight store inside the .keras archive
    import numpy as np

    out: dict[str, object] = {}
    with zipfile.ZipFile(run.last) as archive, archive.open("model.weights.h5") as f:
        with h5py.File(f, "r") as h5:
            h5.visititems(
                lambda name, obj: (
                    out.__setitem__(name, np.asarray(obj))
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
    return out


def _same_weights(a: dict[str, object], b: dict[str, object]) -> bool:
    import numpy as np

    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # type: ignore[arg-type]


def _epochs_saved(run: RunDir, backend: str) -> int:
    from incept.runtime.checkpoints import read

    return int(read(run.last, backend)["epoch"])


@pytest.fixture(scope="module", params=BACKENDS)
def whole(request: pytest.FixtureRequest, toy: Path, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted two-epoch run of each framework (the reference)."""
    backend = request.param
    run = RunDir(tmp_path_factory.mktemp(f"whole-{backend}") / "run", SUFFIX[backend])
    result = train(toy, backend, run.path, "--limit-train", "320")
    assert result.returncode == 0, result.stderr[-2000:]
    return backend, run


def test_sigterm_saves_mid_epoch_and_resume_matches_an_uninterrupted_run(
    whole: tuple[str, RunDir], toy: Path, tmp_path: Path
) -> None:
    backend, reference = whole
    step = random.Random(backend).randrange(STEPS + 1, 2 * STEPS - 1)  # inside epoch 2
    run = RunDir(tmp_path / "run", SUFFIX[backend])
    stopped = train(toy, backend, run.path, "--limit-train", "320", fault=f"sigterm@{step}")
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    line = stopped.stderr.strip().splitlines()[-1]
    assert "error[stopped]" in line and f"epoch 2, step {step - STEPS}" in line
    from incept.runtime.checkpoints import read

    state = read(run.last, backend)
    assert (state["epoch"], state["step"]) == (1, step - STEPS)
    assert len(run.read_metrics()) == 1
    resumed = train(toy, backend, run.path, "--limit-train", "320", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert computed(run) == computed(reference)
    assert _same_weights(_weights(run, backend), _weights(reference, backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
    backend: str, toy: Path, tmp_path: Path
) -> None:
    run = RunDir(tmp_path / "run", SUFFIX[backend])
    result = train(toy, backend, run.path, "--limit-train", "320", fault=f"nan@{STEPS + 3}")
    assert result.returncode == 4, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "error[non-finite]" in lines[-1] and "epoch 2, step 10" in lines[-1]
    assert str(run.last) in lines[-1]
    assert _epochs_saved(run, backend) == 1 and len(run.read_metrics()) == 1
    import numpy as np

    assert all(np.isfinite(w).all() for w in _weights(run, backend).values())  # type: ignore[call-overload]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_the_first_epoch_writes_no_checkpoint(
    backend: str, toy: Path, tmp_path: Path
) -> None:
    run = RunDir(tmp_path / "run", SUFFIX[backend])
    result = train(toy, backend, run.path, "--limit-train", "320", fault="nan@2")
    assert result.returncode == 4
    assert "no checkpoint was written before" in result.stderr.strip().splitlines()[-1]
    assert not run.last.exists() and not run.best.exists()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fault", ["kill-in-write", "enospc"])
def test_a_failed_checkpoint_write_leaves_the_previous_one(
    backend: str, fault: str, toy: Path, tmp_path: Path
) -> None:
    run = RunDir(tmp_path / "run", SUFFIX[backend])
    result = train(toy, backend, run.path, "--limit-train", "320", fault=f"{fault}@2")
    if fault == "kill-in-write":
        assert result.returncode == -9
    else:
        assert result.returncode == 2, result.stderr[-2000:]
        line = result.stderr.strip().splitlines()[-1]
        assert "error[write]" in line and "No space left on device" in line
        assert "previous file is intact" in line
    assert _epochs_saved(run, backend) == 1  # epoch 1's checkpoint, whole and loadable
    assert not [p for p in run.path.rglob("*.tmp") if fault == "enospc"]


def test_every_file_of_a_run_has_the_umask_mode(whole: tuple[str, RunDir]) -> None:
    _, run = whole
    umask = os.umask(0)
    os.umask(umask)
    files = [p for p in run.path.rglob("*") if p.is_file() and p.name != "model.py"]
    assert len(files) >= 8
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {
        p.name: 0o666 & ~umask for p in files
    }
