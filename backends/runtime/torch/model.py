"""Build a torch model from a compiled spec, and check it against the IR before use.

The model class comes from the torch backend's source, rendered in memory and
imported as a module (no file in generated/ is needed). The preflight runs one
small batch through it and compares every row's output shape and the parameter
count with what the compiler inferred: if they differ, nothing is trained.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from incept.compiler.ir.graph import Graph
from incept.compiler.pipeline import Compiled

from ..errors import Code, InputError
from ..model_source import import_source
from ..preflight import check_parameters, check_shapes


def model_source(graph: Graph) -> str:
    from incept.backends import torch as backend

    return backend.render(graph)


def build_model(compiled: Compiled, folder: Path, *, aux: bool) -> nn.Module:
    """The spec's model with its aux heads attached when `aux` and the spec has any."""
    module = import_source(model_source(compiled.graph), folder / "model.py")
    model: nn.Module = module.build(aux_logits=aux and bool(compiled.graph.aux_heads))
    return model


def load_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], where: object) -> None:
    """`weights` into `model` (strict), or one line naming the first tensor that differs."""
    have = model.state_dict()
    for key, tensor in have.items():
        if key not in weights:
            raise InputError(Code.CHECKPOINT, where, f"has no tensor {key!r} for the model")
        if tuple(weights[key].shape) != tuple(tensor.shape):
            shape = "x".join(map(str, weights[key].shape))
            raise InputError(
                Code.CHECKPOINT,
                where,
                f"tensor {key!r} is {shape}, the model's is {'x'.join(map(str, tensor.shape))}",
            )
    extra = sorted(set(weights) - set(have))
    if extra:
        raise InputError(Code.CHECKPOINT, where, f"has a tensor the model lacks: {extra[0]!r}")
    model.load_state_dict(weights)


def _row_outputs(graph: Graph, aux: bool) -> dict[str, tuple[int, ...]]:
    """Module path -> the shape (C, H, W or C) the IR predicts for its output."""
    from incept.backends.torch import flattened_outputs, module_paths

    paths, flat = module_paths(graph), flattened_outputs(graph)
    rows = [*graph.rows, *(graph.aux_heads if aux else ())]
    out: dict[str, tuple[int, ...]] = {}
    for row in rows:
        node = graph.nodes[row.output]
        if row.output in paths and node.shape is not None:
            shape = tuple(node.shape)
            out[paths[row.output]] = (math.prod(shape),) if row.output in flat else shape
    return out


def preflight(model: nn.Module, graph: Graph, where: str) -> None:
    """Raise InputError(preflight) unless the built model matches the IR exactly."""
    aux = bool(getattr(model, "aux_logits", False))
    check_parameters(sum(p.numel() for p in model.parameters()), graph.params(aux=aux), where)
    expected = _row_outputs(graph, aux)
    seen: dict[str, tuple[int, ...]] = {}
    probe = copy.deepcopy(model).train(aux)  # train mode runs the aux heads; BN sees 2 images
    hooks = [
        probe.get_submodule(path).register_forward_hook(
            lambda _m, _i, out, path=path: seen.__setitem__(path, tuple(out.shape[1:]))
        )
        for path in expected
    ]
    c, (h, w) = graph.input.shape[0], graph.input.shape[1:]  # type: ignore[index,misc]
    with torch.no_grad():
        probe(torch.zeros(2, c, h, w))
    for hook in hooks:
        hook.remove()
    check_shapes(seen, expected, where)
