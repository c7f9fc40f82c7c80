"""Fine-tuning a Keras model: --freeze's rows fixed, fresh classifiers for a new class count."""

from __future__ import annotations

from typing import Any

from incept.compiler.ir.graph import Graph

from ..finetune import classifier_nodes, frozen_nodes


def _layer_names(graph: Graph, nodes: set[str] | tuple[str, ...]) -> set[str]:
    from incept.backends.keras import weight_layers

    layers = weight_layers(graph)
    return {name for n in nodes if n in layers for name in layers[n].values()}


def freeze(model: Any, graph: Graph, rows: tuple[str, ...]) -> None:
    """Mark `rows`' layers trainable=False before the model is compiled: the optimizer
    never sees their weights, and their batch norms run in inference mode (Keras 3)."""
    for name in sorted(_layer_names(graph, frozen_nodes(graph, rows))):
        model.get_layer(name).trainable = False


def classifier_layers(graph: Graph) -> set[str]:
    """The Keras layers of the classifiers a new class count replaces."""
    return _layer_names(graph, classifier_nodes(graph))
