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
