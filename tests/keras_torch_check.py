"""The Keras agreement checks on Keras' torch backend.

Not collected by a plain `pytest` (Keras fixes its backend at first import);
tests/test_keras_backend.py runs it in a subprocess:

    KERAS_BACKEND=torch python -m pytest tests/keras_torch_check.py
"""

from __future__ import annotations

import os

import pytest

if os.environ.get("KERAS_BACKEND") != "torch":
    pytest.skip("run with KERAS_BACKEND=torch", allow_module_level=True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from genload import shipped  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from kerasagree import TOLERANCE, agreement, keras_module, trainable_count  # noqa: E402
from kerascases import CASES, write_case  # noqa: E402
from specgen import specs, write_spec  # noqa: E402

from incept.compiler.pipeline import build_graph  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SPECS = ["googlenet.yaml", "googlenet-torchvision.yaml"]


def test_backend():
    assert keras.backend.backend() == "torch"


@pytest.mark.parametrize("spec", SPECS)
def test_shipped(spec, tmp_path):
    graph = shipped(spec)
    module = keras_module(graph, tmp_path)
    for aux in (False, True):
        assert trainable_count(module.build(aux_logits=aux)) == graph.params(aux=aux)
    errors = agreement(graph, tmp_path, aux=True, sensitive=True)
    assert errors["outputs"] == 3
    assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


@pytest.mark.parametrize("case", sorted(CASES))
def test_semantics_case(case, tmp_path):
    graph = build_graph(write_case(case, tmp_path))
    errors = agreement(graph, tmp_path, aux=bool(graph.aux_heads), batch=3, sensitive=True)
    assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


def test_fit(tmp_path):
    graph = build_graph(write_case("block_two_sizes", tmp_path))
    module = keras_module(graph, tmp_path)
    model = module.build(num_classes=3)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9), **module.compile_kwargs(model)
    )
    x = np.random.default_rng(0).standard_normal((8, 11, 10, 3), dtype=np.float32)
    y = np.arange(8) % 3
    history = model.fit(x, [y, y], batch_size=8, epochs=10, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history


@settings(max_examples=15)
@given(spec=specs())
def test_random_specs(spec, tmp_path_factory):
    """A few random specs (test_agreement.py runs more on TensorFlow)."""
    tmp = tmp_path_factory.mktemp("spec")
    graph = build_graph(write_spec(spec, tmp / "spec.yaml"))
    errors = agreement(graph, tmp, aux=bool(graph.aux_heads))
    assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors
