"""Polyak averaging (`training: ema:`, `--ema`): both backends' averages against
TensorFlow's ExponentialMovingAverage; and the Inception papers' recipe in `incept
train` (averaging with RMSProp and clipping, whose updates tests/test_optim.py proves):
the average does not change what is trained, it is what the test metrics, best.*, eval
and export see, the optimizer's state is saved, and a run stopped mid-epoch resumes to
the same weights, optimizer state and average."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402  (before TensorFlow: tests/conftest.py)
from runchecks import computed, incept, train_tiny  # noqa: E402
from toydata import write_toy_fashion  # noqa: E402

from incept.runtime import checkpoints, driver  # noqa: E402
from incept.runtime.rundir import RunDir  # noqa: E402

STEPS = 4  # 64 images / batch 16
SUFFIX = {"torch": ".pt", "keras": ".keras"}


def _tf_reference(decay: float, values: list[np.ndarray]):
    """TensorFlow's ExponentialMovingAverage with num_updates over variables holding
    `values`; returns (variables, ema, counter)."""
    import tensorflow as tf

    variables = [tf.Variable(v) for v in values]
    counter = tf.Variable(0, dtype=tf.int64)
    ema = tf.train.ExponentialMovingAverage(decay, num_updates=counter)
    ema.apply(variables)  # creates the averages from the initial values: a no-op step
    return variables, ema, counter


@pytest.mark.parametrize("decay", [0.99, 0.5])  # the ramp throughout; the ramp, then decay
def test_torch_average_is_tensorflows_moving_average(decay: float) -> None:
    from incept.runtime.torch.ema import Average

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5),
    )  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    average = Average(model, decay)
    floats = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    variables, ema, counter = _tf_reference(decay, [v.numpy().copy() for v in floats.values()])
    for step in range(30):
        loss = model(torch.randn(4, 3, 8, 8)).logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average.update()
        for variable, value in zip(variables, floats.values(), strict=True):
            variable.assign(value.numpy())
        counter.assign(step)
        ema.apply(variables)
    state = average.state_dict()
    assert average.updates == 30
    for (key, value), variable in zip(floats.items(), variables, strict=True):
        want = ema.average(variable).numpy()
        assert np.isfinite(want).all()
        np.testing.assert_allclose(state[key].numpy(), want, rtol=1e-5, atol=1e-6, err_msg=key)
        assert not np.allclose(want, value.numpy(), atol=1e-4), key  # it is not the model
    assert int(state["1.num_batches_tracked"]) == 30  # integer state is copied


@pytest.mark.parametrize("decay", [0.99, 0.5])
def test_keras_average_is_tensorflows_moving_average(decay: float) -> None:
    import keras
    import tensorflow as tf

    from incept.runtime.keras.ema import Average

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3, use_bias=False), keras.layers.BatchNormalization(),
        keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(5),
    ])  # fmt: skip
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    average = Average(model, decay)
    assert len(average.weights) == 7  # 2 kernels, a bias; gamma, beta, moving mean, variance
    variables, ema, counter = _tf_reference(decay, average.trained())
    rng = np.random.default_rng(0)
    for step in range(30):
        model.train_on_batch(rng.normal(size=(4, 8, 8, 3)), rng.normal(size=(4, 5)))
        tf.function(average.update)()  # as inside the training step
        for variable, value in zip(variables, average.trained(), strict=True):
            variable.assign(value)
        counter.assign(step)
        ema.apply(variables)
    assert int(average.updates.numpy()) == 30
    for weight, mine, variable in zip(average.weights, average.averaged, variables, strict=True):
        want = ema.average(variable).numpy()
        assert np.isfinite(want).all()
        np.testing.assert_allclose(mine.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=weight.path)
        assert not np.allclose(want, variable.numpy(), atol=1e-4), weight.path
    trained = average.trained()
    with average.swapped():  # the model holds the average inside, its own after
        assert _equal([w.numpy() for w in average.weights], [a.numpy() for a in average.averaged])
    assert _equal(trained, average.trained())


# -- in incept train -------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_fashion(tmp_path_factory.mktemp("toy"), train=64, test=20)


def _train(toy: Path, backend: str, run: Path, *extra: str) -> tuple[int, str]:
    papers = ("--optimizer", "rmsprop", "--lr", "0.01", "--clip-grad-norm", "2")
    return train_tiny(toy, backend, run, "--flip", *papers, *extra)


def _saved(run: RunDir, backend: str) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """(the model's floating weights as eval loads them, the trained ones if averaged)."""
    if backend == "torch":
        state = torch.load(run.last, weights_only=True)
        floats = lambda d: [v.numpy() for v in d.values() if v.is_floating_point()]  # noqa: E731
        return floats(state["model"]), floats(state["trained"]) if "trained" in state else None
    from incept.runtime.keras import checkpoint
    from incept.runtime.keras.ema import from_bytes

    model = checkpoints.load(run.last, None, "cpu").model
    weights = [np.asarray(w) for w in model.weights if "float" in str(w.dtype)]
    if "ema_updates" not in checkpoint.read_state(run.last):
        return weights, None
    return weights, from_bytes(checkpoint.read_member(run.last, checkpoint.TRAINED), len(weights))


def _equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module", params=["torch", "keras"])
def runs(request: pytest.FixtureRequest, toy: Path, tmp_path_factory: pytest.TempPathFactory):
    """One backend's two-epoch runs, plain and averaged (decay 0.7: the ramp, then 0.7)."""
    backend = request.param
    folder = tmp_path_factory.mktemp(backend)
    plain, averaged = (RunDir(folder / name, SUFFIX[backend]) for name in ("plain", "ema"))
    for run, extra in ((plain, ()), (averaged, ("--ema", "0.7"))):
        code, output = _train(toy, backend, run.path, *extra)
        assert code == 0, output
        assert ("weights averaged (ema 0.7)" in output) == bool(extra)
    return backend, plain, averaged


def test_averaging_does_not_change_what_is_trained(runs) -> None:
    backend, plain, averaged = runs
    (plain_weights, none), (average, trained) = _saved(plain, backend), _saved(averaged, backend)
    assert none is None and trained is not None
    assert _equal(trained, plain_weights)  # the same steps, bit for bit
    assert not _equal(average, trained)
    state = checkpoints.load(averaged.last, None, "cpu").state
    assert state["ema_updates"] == 2 * STEPS and state["recipe"]["ema"] == 0.7


def test_the_papers_optimizer_state_is_saved_and_loads(runs) -> None:
    """RMSProp's mean squares (from 1) and momentum are in the checkpoint; the Keras
    optimizer and its clipping round-trip through load_model."""
    backend, plain, _ = runs
    state = checkpoints.load(plain.last, None, "cpu").state
    assert state["recipe"]["optimizer"] == "rmsprop" and state["recipe"]["clip_grad_norm"] == 2
    if backend == "torch":
        saved = torch.load(plain.last, weights_only=True)["optimizer"]["state"]
        assert saved and all("square_avg" in s and "momentum_buffer" in s for s in saved.values())
        return
    import keras

    from incept.runtime.model_source import import_source

    import_source(plain.model_source.read_text(), plain.model_source)
    optimizer = keras.models.load_model(plain.last).optimizer
    assert type(optimizer).__name__ == "TFRMSProp" and optimizer.global_clipnorm == 2
    assert int(optimizer.iterations) == 2 * STEPS


def test_the_test_metrics_and_eval_see_the_average(runs) -> None:
    import json

    backend, plain, averaged = runs
    rows, plain_rows = averaged.read_metrics(), plain.read_metrics()
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in plain_rows]
    assert [r["test_loss"] for r in rows] != [r["test_loss"] for r in plain_rows]
    code, output = incept("eval", str(averaged.last), "--format", "json", "--device", "cpu")
    assert code == 0, output
    assert json.loads(output)["loss"] == pytest.approx(rows[-1]["test_loss"], rel=1e-5)


def test_a_run_stopped_mid_epoch_resumes_to_the_same_average(
    runs, toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _, averaged = runs
    run = RunDir(tmp_path / "run", SUFFIX[backend])
    stopping, calls = driver._stopping, []

    def stop_at_step_6(session, stop, synced):  # as SIGTERM would, at epoch 2, step 2
        calls.append(1)  # asked after every step but an epoch's last
        if len(calls) == (STEPS - 1) + 2:
            stop.signum = 15
        return stopping(session, stop, synced)

    monkeypatch.setattr(driver, "_stopping", stop_at_step_6)
    code, output = _train(toy, backend, run.path, "--ema", "0.7")
    assert code == 143, output
    assert checkpoints.load(run.last, None, "cpu").state["ema_updates"] == STEPS + 2
    monkeypatch.undo()
    code, output = _train(toy, backend, run.path, "--ema", "0.7", "--resume")
    assert code == 0, output
    assert computed(run) == computed(averaged)
    (average, trained), (want_average, want_trained) = (
        _saved(run, backend),
        _saved(averaged, backend),
    )
    assert _equal(average, want_average) and _equal(trained, want_trained)  # type: ignore[arg-type]


def test_a_bad_decay_is_one_line(toy: Path, tmp_path: Path) -> None:
    code, output = _train(toy, "torch", tmp_path / "run", "--ema", "1.5")
    assert code == 2
    assert output.strip().splitlines()[-1].startswith("--ema: error[flag]:"), output
    assert not (tmp_path / "run").exists()


def test_damaged_trained_weights_are_a_value_error() -> None:
    """What restore turns into a one-line checkpoint error."""
    from incept.runtime.keras.ema import from_bytes, to_bytes

    two = [np.zeros(2, np.float32), np.ones((2, 3), np.float32)]
    assert _equal(from_bytes(to_bytes(two), 2), two)
    for data, message in (
        (b"garbage", "not a readable .npz"),
        (to_bytes(two)[:40], "not a readable .npz"),
        (to_bytes(two), "2 trained weights for a model of 3"),
    ):
        with pytest.raises(ValueError, match=message):
            from_bytes(data, 3)
