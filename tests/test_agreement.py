"""Property: for random valid specs, the IR, the torch module and the Keras model agree.

Shape properties (SHAPE_EXAMPLES below): each node's Keras output shape is the IR's, and
trainable parameters equal the IR's count in Keras and torch, aux heads on and off.
Numeric agreement after weight transfer, the costlier part, runs on fewer examples. The
counts are per hypothesis profile: `make test-thorough` draws 10-25x more. Torch shapes
per node are checked by test_property_torch.py. About a quarter of the drawn templates
are residual (specgen's `residuals` knob); test_residual_specs_agree draws specs whose
every template is, so residual adds, projections, repeats and `$in_channels` are
exercised on every profile.

A failing example is saved for a person to commit under tests/regressions/ (regress.py);
every spec there is checked again by test_regression_agrees below. Runs on Keras' TensorFlow backend.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
torch = pytest.importorskip("torch")
# first: kerasagree loads triton, which segfaults when loaded after TensorFlow
from kerasagree import TOLERANCE, agreement, keras_module, trainable_count  # noqa: E402

keras = pytest.importorskip("keras")

from genload import torch_module  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from regress import REGRESSIONS, saving_failures  # noqa: E402
from specgen import (  # noqa: E402
    examples,
    inherited_specs,
    resolve_chain,
    specs,
    write_chain,
    write_spec,
)

from incept.backends.keras import build_view  # noqa: E402
from incept.compiler.pipeline import build_graph  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
_names = itertools.count()
# Every example builds a Keras model (a TensorFlow graph: the costly part) and a torch one.
SHAPE_EXAMPLES = examples(20, 500)
# The numeric property builds, transfers and runs two models per example: a subset.
NUMERIC_EXAMPLES = examples(12, 200)
# Residual-only specs (shapes, counts and numbers each): a few more on top of the
# quarter of the plain properties' examples that have a residual template.
RESIDUAL_EXAMPLES = examples(4, 100)


def _hwc(shape):
    return (*shape[1:], shape[0]) if len(shape) == 3 else shape


def assert_keras_matches_ir(graph, directory: Path) -> None:
    """Trainable counts (Keras and torch, aux heads on and off) and every node's Keras
    output shape equal the IR's."""
    module = keras_module(graph, directory)
    tmod = torch_module(graph, directory, f"gen_agree_torch_{next(_names)}")
    aux = bool(graph.aux_heads)
    model = module.build(aux_logits=aux)
    for on in {False, aux}:
        expected = graph.params(aux=on)
        assert trainable_count(model if on == aux else module.build(aux_logits=on)) == expected
        assert sum(p.numel() for p in tmod.build(aux_logits=on).parameters()) == expected
    for node, layer in build_view(graph).out_layers.items():
        shape = (None, *_hwc(graph.nodes[node].shape))
        assert tuple(model.get_layer(layer).output.shape) == shape, node


@settings(max_examples=SHAPE_EXAMPLES)
@given(spec=specs())
def test_keras_matches_ir(spec):
    keras.backend.clear_session()
    with saving_failures(spec, "keras-ir"), tempfile.TemporaryDirectory() as tmp:
        graph = build_graph(write_spec(spec, Path(tmp) / "spec.yaml"))
        assert_keras_matches_ir(graph, Path(tmp))


@settings(max_examples=NUMERIC_EXAMPLES)
@given(spec=specs())
def test_keras_agrees_with_torch(spec):
    keras.backend.clear_session()
    with saving_failures(spec, "keras-numeric"), tempfile.TemporaryDirectory() as tmp:
        graph = build_graph(write_spec(spec, Path(tmp) / "spec.yaml"))
        errors = agreement(graph, Path(tmp), aux=bool(graph.aux_heads))
        assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


@settings(max_examples=NUMERIC_EXAMPLES // 2)
@given(chain=inherited_specs())
def test_inherited_keras_agrees_with_torch(chain):
    """Specs made by `extends` + `patch` chains: counts and numbers agree as for any spec."""
    keras.backend.clear_session()
    with (
        saving_failures(resolve_chain(chain), "keras-inherited"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        graph = build_graph(write_chain(chain, Path(tmp)))
        module = keras_module(graph, Path(tmp))
        for on in {False, bool(graph.aux_heads)}:
            assert trainable_count(module.build(aux_logits=on)) == graph.params(aux=on)
        errors = agreement(graph, Path(tmp), aux=bool(graph.aux_heads))
        assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


@settings(max_examples=RESIDUAL_EXAMPLES)
@given(spec=specs(residuals=1.0))
def test_residual_specs_agree(spec):
    """Specs whose every template is residual (after:, identity or projected shortcut,
    scales, `$in_channels`, repeats, sepconv / bn / relu, groups), so the residual paths
    run on every profile: the IR, Keras and torch agree on shapes, counts and numbers."""
    assert any("residual" in spec["blocks"].get(r["op"], {}) for r in spec["layers"])
    keras.backend.clear_session()
    with saving_failures(spec, "keras-residual"), tempfile.TemporaryDirectory() as tmp:
        graph = build_graph(write_spec(spec, Path(tmp) / "spec.yaml"))
        assert any(node.op == "add" for node in graph.nodes.values())
        assert_keras_matches_ir(graph, Path(tmp))
        errors = agreement(graph, Path(tmp), aux=bool(graph.aux_heads))
        assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.yaml")), ids=lambda p: p.stem)
def test_regression_agrees(path, tmp_path):
    graph = build_graph(path)
    module = keras_module(graph, tmp_path)
    for aux in {False, bool(graph.aux_heads)}:
        assert trainable_count(module.build(aux_logits=aux)) == graph.params(aux=aux)
    errors = agreement(graph, tmp_path, aux=bool(graph.aux_heads))
    assert errors["torch->keras"] < TOLERANCE and errors["keras->torch"] < TOLERANCE, errors
