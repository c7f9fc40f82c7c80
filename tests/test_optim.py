"""The Inception-v3/v4 papers' optimizer and clipping (`optimizer: rmsprop`,
`clip_grad_norm`): torch's and Keras' updates against timm's RMSpropTF and torch's
clip_grad_norm_ (tests/test_ema.py trains and resumes with them)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402  (before TensorFlow: tests/conftest.py)
from runchecks import train_tiny  # noqa: E402
from toydata import write_toy_fashion  # noqa: E402

from incept.runtime.torch.optim import RMSProp  # noqa: E402

LRS = [0.1, 0.3, 0.2, 0.05, 0.01, 0.2, 0.1, 0.05]  # a moving learning rate


def _problem(seed: int = 2) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """A weight, a bias and a gradient sequence for both (the weight is decayed)."""
    rng = np.random.default_rng(seed)
    w0, b0 = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    scales = [0.1, 3.0, 1.0, 0.5, 5.0, 0.2, 1.0, 2.0]  # some steps above the clip norm
    grads = [
        (
            (s * rng.normal(size=(3, 4))).astype("float32"),
            (s * rng.normal(size=4)).astype("float32"),
        )
        for s in scales
    ]
    return w0, b0, grads


def _torch_run(make, w0, b0, grads, clip: float = 0.0) -> list[np.ndarray]:
    tw, tb = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))
    optimizer = make(
        [{"params": [tw], "weight_decay": 0.01}, {"params": [tb], "weight_decay": 0.0}]
    )
    for (gw, gb), lr in zip(grads, LRS, strict=True):
        for group in optimizer.param_groups:
            group["lr"] = lr
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        if clip:
            torch.nn.utils.clip_grad_norm_([tw, tb], clip)
        optimizer.step()
    return [tw.detach().numpy(), tb.detach().numpy()]


def _keras_run(optimizer, w0, b0, grads) -> list[np.ndarray]:
    import keras

    kw, kb = keras.Variable(w0), keras.Variable(b0)
    optimizer.build([kw, kb])
    for (gw, gb), lr in zip(grads, LRS, strict=True):
        optimizer.learning_rate = lr
        optimizer.apply([gw, gb], [kw, kb])
    return [np.asarray(kw), np.asarray(kb)]


def _close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [1.0, 1e-3])
def test_rmsprop_is_timms_rmsproptf(eps: float) -> None:
    """TensorFlow's convention: epsilon inside the root, mean squares from 1, the lr
    inside the momentum buffer; L2 decay on the weight only."""
    from timm.optim import RMSpropTF

    w0, b0, grads = _problem()
    ours = _torch_run(lambda g: RMSProp(g, lr=0.1, decay=0.9, eps=eps, momentum=0.9), w0, b0, grads)
    reference = _torch_run(
        lambda g: RMSpropTF(g, lr=0.1, alpha=0.9, eps=eps, momentum=0.9, lr_in_momentum=True),
        w0, b0, grads,
    )  # fmt: skip
    _close(ours, reference)
    plain = _torch_run(
        lambda g: torch.optim.RMSprop(g, lr=0.1, alpha=0.9, eps=eps, momentum=0.9), w0, b0, grads
    )  # noqa: E501
    assert not np.allclose(plain[0], ours[0], atol=1e-3)  # torch's own convention differs


def test_keras_rmsprop_is_timms_rmsproptf() -> None:
    from timm.optim import RMSpropTF

    from incept.runtime.keras.optim import TFRMSProp

    w0, b0, grads = _problem(3)
    reference = _torch_run(
        lambda g: RMSpropTF(g, lr=0.1, alpha=0.9, eps=1.0, momentum=0.9, lr_in_momentum=True),
        w0, b0, grads,
    )  # fmt: skip
    ours = _keras_run(TFRMSProp(0.1, decay=0.9, eps=1.0, momentum=0.9, l2=0.01), w0, b0, grads)
    _close(ours, reference)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_keras_global_clipnorm_is_torchs_clip_grad_norm(optimizer: str) -> None:
    from incept.runtime.keras.optim import TFRMSProp, TorchSGD

    w0, b0, grads = _problem(4)
    if optimizer == "sgd":
        make = lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9)  # noqa: E731
        keras_opt = TorchSGD(0.1, momentum=0.9, l2=0.01, global_clipnorm=1.5)
    else:
        make = lambda g: RMSProp(g, lr=0.1)  # noqa: E731
        keras_opt = TFRMSProp(0.1, l2=0.01, global_clipnorm=1.5)
    clipped = _torch_run(make, w0, b0, grads, clip=1.5)
    _close(_keras_run(keras_opt, w0, b0, grads), clipped)
    assert not np.allclose(_torch_run(make, w0, b0, grads)[0], clipped[0], atol=1e-3)


# -- in incept train: tests/test_ema.py trains with this recipe ------------------------


def test_clipping_with_replicas_is_one_line(tmp_path: Path) -> None:
    toy = write_toy_fashion(tmp_path / "toy", train=64, test=20)
    clip = ("--clip-grad-norm", "2", "--replicas", "2")
    code, output = train_tiny(toy, "keras", tmp_path / "run", *clip)
    assert code == 2
    assert output.strip().startswith("--clip-grad-norm: error[flag]: does not combine with")
    assert not (tmp_path / "run").exists()
