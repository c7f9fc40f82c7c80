"""Copy weights between the generated torch module and the generated Keras model.

Both are matched through the IR: each backend names, for every conv and linear node, where
each kind of weight lives: torch the submodules (`incept.backends.torch.weight_modules`),
Keras the layers (`incept.backends.keras.weight_layers`), under the kinds "conv", "bn" and
"linear" that the tables below translate. Layouts:
conv weight OIHW <-> kernel HWIO (transpose 2, 3, 1, 0); linear weight (out, in) <->
Dense kernel (in, out); batch norm weight/bias/running_mean/running_var <->
gamma/beta/moving_mean/moving_variance. The Keras model flattens in torch's C x H x W
order, so no Linear weight needs its rows permuted.

Every weight of both models must be matched: a missing or extra one raises, as do aux
heads present in one model only. Keras is imported only inside the functions, so that
importing this module does not fix Keras' backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from incept.compiler.ir.graph import Graph

from .keras import weight_layers
from .torch import weight_modules

# torch state_dict suffix -> Keras variable attribute, and the axes torch -> Keras
Table = tuple[tuple[str, str, tuple[int, ...] | None], ...]
_CONV: Table = (("weight", "kernel", (2, 3, 1, 0)), ("bias", "bias", None))
_BN: Table = (
    ("weight", "gamma", None),
    ("bias", "beta", None),
    ("running_mean", "moving_mean", None),
    ("running_var", "moving_variance", None),
)
_LINEAR: Table = (("weight", "kernel", (1, 0)), ("bias", "bias", None))
# A separable convolution: torch's depthwise conv1 (C, 1, kh, kw) <-> depthwise_kernel
# (kh, kw, C, 1); its pointwise 1x1 <-> pointwise_kernel (1, 1, C, out), one Keras layer.
_DEPTHWISE: Table = (("weight", "depthwise_kernel", (2, 3, 0, 1)),)
_POINTWISE: Table = (("weight", "pointwise_kernel", (2, 3, 1, 0)), ("bias", "bias", None))
#: Each kind of weight-holding part the backends name (weight_modules, weight_layers).
_TABLES: dict[str, Table] = {
    "conv": _CONV,
    "bn": _BN,
    "linear": _LINEAR,
    "depthwise": _DEPTHWISE,
    "pointwise": _POINTWISE,
}


class TransferError(ValueError):
    """The two models do not hold the same weights."""


def _pairs(graph: Graph, torch_model: Any, keras_model: Any) -> list[tuple[str, Any, Any]]:
    """(torch state_dict key, Keras variable, torch -> Keras axes) for every weight."""
    state = torch_model.state_dict()
    layers = {layer.name: layer for layer in keras_model.layers}
    modules = weight_modules(graph)
    aux_nodes = {n for head in graph.aux_heads for n in head.nodes}
    pairs = []
    for node, names in weight_layers(graph).items():
        first = next(iter(names.values()))
        if first not in layers and node in aux_nodes:
            continue  # aux heads off; an extra torch aux weight is caught below
        if first not in layers:
            raise TransferError(f"the Keras model has no layer {first!r}")
        if set(names) != set(modules[node]):
            raise TransferError(f"{node}: torch has {sorted(modules[node])}, Keras {sorted(names)}")
        for kind, layer_name in names.items():
            prefix, layer = modules[node][kind], layers.get(layer_name)
            for key, attr, axes in _TABLES[kind]:
                variable = getattr(layer, attr, None)
                if f"{prefix}.{key}" not in state and variable is None:
                    continue  # no bias on either side
                if f"{prefix}.{key}" not in state or variable is None:
                    side = "torch" if variable is not None else "Keras"
                    raise TransferError(
                        f"{node}: {prefix}.{key} / {layer_name}.{attr} missing in {side}"
                    )
                pairs.append((f"{prefix}.{key}", variable, axes))
    _check_complete(pairs, state, keras_model)
    return pairs


def _check_complete(pairs: list[tuple[str, Any, Any]], state: dict, keras_model: Any) -> None:
    used_keys = {key for key, _, _ in pairs}
    extra = [k for k in state if k not in used_keys and not k.endswith("num_batches_tracked")]
    if extra:
        raise TransferError(f"torch weights with no Keras counterpart: {', '.join(extra)}")
    used = {id(v) for _, v, _ in pairs}
    extra = [v.path for v in keras_model.weights if id(v) not in used]
    if extra:
        raise TransferError(f"Keras weights with no torch counterpart: {', '.join(extra)}")


def torch_to_keras(graph: Graph, torch_model: Any, keras_model: Any) -> None:
    """Copy every weight and batch-norm statistic of `torch_model` into `keras_model`."""
    state = torch_model.state_dict()
    for key, variable, axes in _pairs(graph, torch_model, keras_model):
        value = state[key].detach().cpu().numpy()
        value = value.transpose(axes) if axes else value
        if tuple(variable.shape) != value.shape:
            raise TransferError(
                f"{key} {value.shape} does not fit {variable.path} {tuple(variable.shape)}"
            )
        variable.assign(value)


def keras_to_torch(graph: Graph, keras_model: Any, torch_model: Any) -> None:
    """Copy every weight and batch-norm statistic of `keras_model` into `torch_model`."""
    import keras
    import torch

    state = torch_model.state_dict()  # tensors that share storage with the model's
    with torch.no_grad():
        for key, variable, axes in _pairs(graph, torch_model, keras_model):
            value = keras.ops.convert_to_numpy(variable)
            value = value.transpose(np.argsort(axes)) if axes else value
            if tuple(state[key].shape) != value.shape:
                raise TransferError(
                    f"{variable.path} {value.shape} does not fit {key} {tuple(state[key].shape)}"
                )
            state[key].copy_(torch.from_numpy(np.ascontiguousarray(value)))
