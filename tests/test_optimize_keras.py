"""The optimization passes on the Keras backend: an optimized Keras model computes what
the optimized torch module does (weights carried by incept's transfer), which computes
what the unoptimized module does (tests/test_optimize.py), on every shipped spec."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
torch = pytest.importorskip("torch")
# first: kerasagree loads triton, which segfaults when loaded after TensorFlow
from kerasagree import TOLERANCE, agreement  # noqa: E402

keras = pytest.importorskip("keras")

from genload import SPECS, reduced  # noqa: E402

from incept.compiler.pipeline import build_graph  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_optimized_keras_model_agrees_with_the_optimized_torch_module(name, tmp_path):
    graph = reduced(name, tmp_path, ("all",))
    aux = bool(graph.aux_heads)
    errors = agreement(graph, tmp_path, aux=aux, sensitive=True)
    assert errors["trainable"] == graph.params(aux=aux)  # of the Keras model it built
    assert errors["outputs"] == 1 + len(graph.aux_heads)
    assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


def test_fused_keras_source_splits_the_fused_convolution(tmp_path):
    from incept.backends.keras import render

    text = render(build_graph(SPECS / "googlenet-torchvision.yaml", optimize=["fuse_siblings"]))
    assert (
        "    fused_1x1 = conv_bn_relu(x, ch1x1 + ch3x3red + ch5x5red, 1, "
        'name=f"{name}_fused_1x1")\n'
        "    branch1, branch2, branch3 = ops.split(fused_1x1, [ch1x1, ch1x1 + ch3x3red], axis=-1)\n"
    ) in text
    folded = render(build_graph(SPECS / "googlenet-torchvision.yaml", optimize=["fold_bn"]))
    assert "BatchNormalization" not in folded and "def folded_conv_bn_relu(" in folded


def _randomize_keras(model, seed: int = 0) -> None:
    """Weights that keep activations O(1), small biases and betas, and batch-norm
    statistics far from their defaults, so a missed or misfolded norm shows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path or "gamma" in w.path:
            value = rng.random(shape) + 0.5
        elif len(shape) > 1:
            fan_in = np.prod(shape[:2] if "depthwise" in w.path else shape[:-1])
            value = (rng.random(shape) * 2 - 1) * np.sqrt(6.0 / fan_in)
        else:  # biases, betas, moving means
            value = rng.standard_normal(shape) * 0.1
        w.assign(value.astype("float32"))


def test_unfolded_keras_weights_carry_into_the_folded_xception(tmp_path):
    """fold_bn on Keras: each of Xception's 34 norms after a separable conv becomes that
    SeparableConv2D's bias (use_bias=True, an Identity layer in the norm's place). The
    unfolded Keras model's weights, carried by incept's transfer (Keras -> the unfolded
    torch module, whose state_dict the folded torch module folds as it loads -> the folded
    Keras model), give the unfolded model's outputs."""
    import numpy as np
    from genload import resized_spec, torch_module
    from kerasagree import keras_module, keras_outputs, rel

    from incept.backends.transfer import keras_to_torch, torch_to_keras

    path = resized_spec("xception-keras.yaml", 75, tmp_path)  # keras' smallest Xception input
    graph, folded_graph = build_graph(path), build_graph(path, optimize=["fold_bn"])
    unfolded = keras_module(graph, tmp_path, "keras_unfolded").build()
    _randomize_keras(unfolded)
    torch_unfolded = torch_module(graph, tmp_path, "torch_unfolded").build().eval()
    keras_to_torch(graph, unfolded, torch_unfolded)
    torch_folded = torch_module(folded_graph, tmp_path, "torch_folded").build().eval()
    torch_folded.load_state_dict(torch_unfolded.state_dict())
    folded = keras_module(folded_graph, tmp_path, "keras_folded").build()
    torch_to_keras(folded_graph, torch_folded, folded)

    kinds = [type(layer).__name__ for layer in folded.layers]
    assert (kinds.count("Identity"), kinds.count("BatchNormalization")) == (34, 6)
    separable = [la for la in folded.layers if type(la).__name__ == "SeparableConv2D"]
    assert len(separable) == 34 and all(la.use_bias for la in separable)
    assert sum(int(np.prod(w.shape)) for w in folded.trainable_weights) == 22_830_920
    x = np.random.default_rng(1).standard_normal((2, 3, 75, 75)).astype("float32")
    (want,), (got,) = keras_outputs(unfolded, x), keras_outputs(folded, x)
    assert rel(got, want) < 1e-5
