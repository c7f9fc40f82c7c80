"""Fine-tuning a torch model: --freeze's rows fixed, fresh classifiers for a new class count."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from incept.compiler.ir.graph import Graph

from ..finetune import classifier_nodes, frozen_nodes


def _modules(model: nn.Module, graph: Graph, nodes: set[str] | tuple[str, ...]) -> list[nn.Module]:
    from incept.backends.torch import weight_modules

    paths = weight_modules(graph)
    return [model.get_submodule(p) for n in nodes if n in paths for p in paths[n].values()]


def freeze(model: nn.Module, graph: Graph, rows: tuple[str, ...]) -> list[nn.Module]:
    """Switch off the gradients of `rows`' parameters (the optimizer then leaves them out:
    no update, no weight decay, no momentum); return their batch norms, which training
    keeps in eval mode so that their statistics stay fixed too."""
    norms: list[nn.Module] = []
    for module in _modules(model, graph, frozen_nodes(graph, rows)):
        for p in module.parameters():
            p.requires_grad_(False)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            norms.append(module)
    return norms


def with_fresh_classifiers(
    model: nn.Module, weights: Mapping[str, torch.Tensor], graph: Graph
) -> dict[str, torch.Tensor]:
    """`weights` with the classifiers' tensors (another class count) replaced by the
    model's own, freshly initialised ones."""
    from incept.backends.torch import weight_modules

    paths = weight_modules(graph)
    prefixes = tuple(f"{p}." for n in classifier_nodes(graph) for p in paths.get(n, {}).values())
    own = model.state_dict()
    return {**weights, **{k: v for k, v in own.items() if k.startswith(prefixes)}}
