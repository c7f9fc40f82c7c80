"""The Keras backend: IR graph -> one Keras 3 functional-API module that imports only keras.

The generated file runs on any Keras backend; compiling it imports neither keras nor
tensorflow.
"""

from __future__ import annotations

from collections.abc import Collection

from incept.compiler.ir.graph import Graph

from ..common import environment, finish
from .viewmodel import ModelView, build_view

__all__ = ["OPTIONS", "ModelView", "build_view", "render", "weight_layers"]

#: Choices this backend makes when it emits code (`--opt`): none (TensorFlow's pools are fast).
OPTIONS: tuple[str, ...] = ()


def render(graph: Graph, options: Collection[str] = ()) -> str:
    if options:
        raise ValueError(f"the keras backend has no option {sorted(options)[0]!r}")
    view = build_view(graph)
    text = environment(__name__).get_template("model.py.jinja").render(m=view)
    return finish(text)


def weight_layers(graph: Graph) -> dict[str, dict[str, str]]:
    """IR node -> the Keras layers holding its weights, by kind: {"conv": ..., "bn": ...}
    (bn only with a norm) or {"linear": ...} (backends/transfer.py's vocabulary)."""
    return build_view(graph).weight_layers
