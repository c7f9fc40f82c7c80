"""The PyTorch backend: IR graph -> one self-contained module that imports only torch."""

from __future__ import annotations

from incept.compiler.ir.graph import Graph

from ..common import environment, finish
from .viewmodel import ModelView, build_view

__all__ = ["ModelView", "build_view", "module_paths", "render"]


def render(graph: Graph) -> str:
    view = build_view(graph)
    text = environment(__name__).get_template("module.py.jinja").render(m=view)
    return finish(text)


def module_paths(graph: Graph) -> dict[str, str]:
    """IR node name -> dotted path of the torch submodule that computes it."""
    return build_view(graph).node_paths
