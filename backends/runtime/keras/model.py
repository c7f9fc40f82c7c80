"""Build a Keras model from a compiled spec, and check it against the IR before use.

The model comes from the Keras backend's source, rendered in memory and imported from
the run folder's model.py (the same `import_source` as torch). The preflight counts
the trainable parameters and runs one small batch through a model of every row's
output layer: each shape (N x H x W x C) must be the IR's prediction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from incept.compiler.ir.graph import Graph
from incept.compiler.pipeline import Compiled

from ..errors import Code, InputError
from ..model_source import import_source
from ..preflight import check_parameters, check_shapes


def model_source(graph: Graph) -> str:
    from incept.backends import keras as backend

    return backend.render(graph)


def build_model(compiled: Compiled, folder: Path, *, aux: bool) -> Any:
    """The spec's keras.Model, outputs [logits, aux...] when `aux` and the spec has heads."""
    module = import_source(model_source(compiled.graph), folder / "model.py")
    return module.build(aux_logits=aux and bool(compiled.graph.aux_heads))


def has_aux(model: Any) -> bool:
    return len(model.outputs) > 1


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) == 3 else shape


def _row_outputs(graph: Graph, aux: bool) -> dict[str, tuple[int, ...]]:
    """Keras layer name -> the shape (H, W, C or C) the IR predicts for its output."""
    from incept.backends.keras.viewmodel import build_view

    layers = build_view(graph).out_layers
    rows = [*graph.rows, *(graph.aux_heads if aux else ())]
    out: dict[str, tuple[int, ...]] = {}
    for row in rows:
        node = graph.nodes[row.output]
        if row.output in layers and node.shape is not None:
            out[layers[row.output]] = _nhwc(tuple(node.shape))  # type: ignore[arg-type]
    return out


def preflight(model: Any, graph: Graph, where: str) -> None:
    """Raise InputError(preflight) unless the built model matches the IR exactly."""
    import keras

    aux = has_aux(model)
    have = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    check_parameters(have, graph.params(aux=aux), where, "trainable parameters")
    expected = _row_outputs(graph, aux)
    names = {layer.name for layer in model.layers}
    missing = [name for name in expected if name not in names]
    if missing:
        raise InputError(Code.PREFLIGHT, where, f"the built model has no layer {missing[0]!r}")
    probe = keras.Model(model.input, [model.get_layer(n).output for n in expected])
    c, (h, w) = graph.input.shape[0], graph.input.shape[1:]  # type: ignore[index,misc]
    outs = probe(np.zeros((2, h, w, c), np.float32), training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    seen = {
        name: tuple(int(d) for d in out.shape[1:]) for name, out in zip(expected, outs, strict=True)
    }
    check_shapes(seen, expected, where, " (H x W x C)")


def logits_function(model: Any, jit_compile: bool = False) -> Any:
    """x -> the main output's float32 logits in inference mode (aux heads unused)."""
    import keras
    import tensorflow as tf

    main = keras.Model(model.input, model.outputs[0]) if has_aux(model) else model
    spec = tf.TensorSpec((None, *main.input.shape[1:]), tf.float32)

    @tf.function(input_signature=[spec], jit_compile=jit_compile)
    def logits(x: Any) -> Any:
        return tf.cast(main(x, training=False), tf.float32)

    return logits
