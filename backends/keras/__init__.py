"""The Keras backend: IR graph -> one Keras 3 functional-API module that imports only keras.

The generated file runs on any Keras backend; compiling it imports neither keras nor
tensorflow.
"""

from __future__ import annotations

from incept.compiler.ir.graph import Graph

from ..common import environment, finish
from .viewmodel import ModelView, build_view

__all__ = ["ModelView", "build_view", "render", "weight_layers"]


def render(graph: Graph) -> str:
    view = build_view(graph)
    text = environment(__name__).get_template("model.py.jinja").render(m=view)
    return finish(text)


def weight_layers(graph: Graph) -> dict[str, tuple[str, ...]]:
    """IR node -> the Keras layers holding its weights: (conv,), (conv, bn) or (dense,)."""
    return build_view(graph).weight_layers
