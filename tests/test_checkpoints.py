"""The one checkpoint path with bad input, both frameworks: truncated, garbage,
another framework's, another spec's and code-carrying files are each one short line;
a finished run is extended where its schedule allows and the refusal names the way
when it does not; a missing optional dependency names its extra."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from runchecks import incept
from toydata import write_toy_fashion

from incept.runtime.rundir import RunDir

TINY = "tests/data/train/tiny.yaml"
SUFFIX = {"torch": ".pt", "keras": ".keras"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"), train=64, test=20)


def _train(toy: Path, run: Path, backend: str, *extra: str) -> tuple[int, str]:
    return incept(
        "train", TINY, "--data", "fashion-mnist", "--data-dir", str(toy), "--run-dir", str(run),
        "--no-progress", "--device", "cpu", "--backend", backend, *extra,
    )  # fmt: skip


@pytest.fixture(scope="module", params=["torch", "keras"])
def run(request: pytest.FixtureRequest, toy: Path, tmp_path_factory: pytest.TempPathFactory):
    backend = request.param
    path = tmp_path_factory.mktemp(backend) / "run"
    code, output = _train(toy, path, backend, "--epochs", "1", "--schedule", "constant")
    assert code == 0, output
    return backend, RunDir(path, SUFFIX[backend])


def _one_line(code: int, output: str, *parts: str) -> None:
    assert code == 2, output
    assert output.count("\n") == 1, output
    for part in parts:
        assert part in output, output


def test_truncated_and_garbage_checkpoints(run: tuple[str, RunDir], tmp_path: Path) -> None:
    backend, good = run
    data = good.last.read_bytes()
    truncated = tmp_path / f"cut{SUFFIX[backend]}"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / f"junk{SUFFIX[backend]}"
    garbage.write_bytes(os.urandom(4096))
    for path in (truncated, garbage):
        code, output = incept("eval", str(path), "--device", "cpu")
        _one_line(code, output, f"{path}: error[checkpoint]: not a readable")
        assert len(output) - len(str(path)) < 120
    if backend == "torch":  # random bytes: one reason, not the first opcode torch tripped on
        assert "(not torch's zip archive: a damaged or foreign file)" in output


@pytest.mark.parametrize("run", ["keras"], indirect=True)
def test_a_keras_checkpoint_without_its_weights_member(
    run: tuple[str, RunDir], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identity is there, the weights are not: one line, and the folder the weights
    are extracted into for loading is gone afterwards."""
    _, good = run
    import zipfile

    stripped = tmp_path / "stripped.keras"
    with zipfile.ZipFile(good.last) as source, zipfile.ZipFile(stripped, "w") as out:
        for item in source.infolist():
            if item.filename != "model.weights.h5":
                out.writestr(item, source.read(item))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    code, output = incept("eval", str(stripped), "--device", "cpu")
    _one_line(code, output, f"{stripped}: error[checkpoint]: weights do not load into the model")
    assert "model.weights.h5" in output
    assert not list(scratch.glob("incept-weights-*"))


@pytest.mark.parametrize("run", ["keras"], indirect=True)
def test_a_keras_checkpoint_loads_where_its_weights_cannot_be_extracted(
    run: tuple[str, RunDir], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No room in the temporary folder: Keras reads the archive itself, the same weights."""
    import errno
    import zipfile

    import numpy as np

    from incept.runtime import checkpoints

    _, good = run
    expected = [np.asarray(w) for w in checkpoints.load(good.last, None, "cpu").model.weights]

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "extract", full)
    got = [np.asarray(w) for w in checkpoints.load(good.last, None, "cpu").model.weights]
    assert len(got) == len(expected) > 0
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_another_frameworks_file_under_this_frameworks_name(
    run: tuple[str, RunDir], tmp_path: Path
) -> None:
    backend, good = run
    other = "keras" if backend == "torch" else "torch"
    foreign = tmp_path / f"model{SUFFIX[other]}"
    shutil.copy(good.last, foreign)
    code, output = incept("eval", str(foreign), "--device", "cpu")
    _one_line(code, output, f"{foreign}: error[checkpoint]: not a")
    assert len(output) - len(str(foreign)) < 120


def test_another_specs_checkpoint(run: tuple[str, RunDir], toy: Path, tmp_path: Path) -> None:
    backend, good = run
    code, output = incept(
        "eval", str(good.path), "--spec", "specs/googlenet-fmnist-lite.yaml", "--device", "cpu"
    )
    _one_line(code, output, "error[checkpoint]: was trained from", "differs from this spec")


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    import torch

    path = tmp_path / "evil.pt"
    torch.save({"format": "incept-torch-checkpoint/1", "model": Evil()}, path)
    for command in (["eval", str(path)], ["predict", str(path), str(path)], ["export", str(path), "--onnx", str(tmp_path / "m.onnx")]):  # fmt: skip
        code, output = incept(*command)
        _one_line(code, output, "error[checkpoint]: holds Python objects", "runs no code")
    assert not canary.exists()
    assert pickle  # the attack is pickle's; the refusal is torch's weights_only reader


def test_a_finished_run_is_extended_where_the_schedule_allows(
    run: tuple[str, RunDir], toy: Path, tmp_path: Path
) -> None:
    backend, good = run
    copy = tmp_path / "run"
    shutil.copytree(good.path, copy)
    code, output = _train(toy, copy, backend, "--epochs", "2", "--schedule", "constant", "--resume")
    assert code == 0, output
    rows = RunDir(copy).read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0] == good.read_metrics()[0]


def test_a_schedule_laid_out_over_the_run_names_init_from(toy: Path, tmp_path: Path) -> None:
    first = tmp_path / "cosine"
    code, output = _train(toy, first, "torch", "--epochs", "1", "--schedule", "cosine")
    assert code == 0, output
    code, output = _train(toy, first, "torch", "--epochs", "2", "--schedule", "cosine", "--resume")
    _one_line(code, output, "error[resume]", "--init-from", str(first))
    second = tmp_path / "more"
    code, output = _train(toy, second, "torch", "--epochs", "1", "--init-from", str(first))
    assert code == 0, output
    import json

    assert json.loads(RunDir(second).config.read_text())["init_from"].startswith(str(first))


@pytest.mark.parametrize(
    ("argv", "missing", "extra"),
    [
        (["train", TINY, "--data", "fashion-mnist"], "torch", "torch,train"),
        (["train", TINY, "--data", "fashion-mnist", "--backend", "keras"], "keras", "keras,train"),
        (["eval", "runs/x"], "numpy", "train"),
        (["predict", "runs/x", "a.png"], "numpy", "train"),
        (["export", TINY, "--onnx", "m.onnx"], "onnx", "export"),
        (["convert", "runs/x.pt", "--to", "keras", "-o", "m.keras"], "tensorflow", "keras,train"),
        (["convert", "runs/x.keras", "--to", "torch", "-o", "m.pt"], "torch", "torch,train"),
        (["bench", TINY, "--vs", "torchvision"], "torch", "torch,train"),
        (["bench", TINY, "--vs", "keras-reference"], "tensorflow", "keras,train"),
    ],
)
def test_a_missing_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], missing: str, extra: str
) -> None:
    from importlib.util import find_spec

    from incept.runtime import frameworks

    monkeypatch.setattr(
        frameworks, "find_spec", lambda name: None if name == missing else find_spec(name)
    )
    argv = [a.replace("m.", str(tmp_path / "m.")) for a in argv]
    code, output = incept(*argv)
    _one_line(
        code, output, f"error[missing-extra]: needs {missing}", f"pip install 'incept[{extra}]'"
    )
