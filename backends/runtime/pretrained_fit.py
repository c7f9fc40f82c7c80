"""Weights into a model of the spec, every tensor accounted for (pretrained.py's last step).

torch weights arrive as tensors by state_dict key, Keras weights as a Keras model of the
spec (Keras reads files into a model, not into arrays). Across backends they go through
backends/transfer.py: Keras weights into a torch target as the torch module's
state_dict; torch weights into a Keras target through the spec's torch module (which
takes them, checked as below) and a whole Keras model of the spec, copied from it into
the model by variable (include_top=False takes the layers it has). Every tensor of the
model must receive weights of its shape, and every weight must find a tensor (aux-head weights are dropped when the model
has no aux heads); the first that does not is one line naming it and both shapes. A
tensor whose shapes differ only where the model has `num_classes` (a classifier) keeps
its fresh initialisation, with a warning that names it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from incept.compiler.ir.graph import Graph

from .errors import Code, InputError

if TYPE_CHECKING:
    from .pretrained import Target


def load(model: Any, target: Target, weights: Any, where: str, fresh_ok: bool = True) -> None:
    """`weights` (torch tensors by key, or a Keras model of the spec) into `model`; with
    `fresh_ok`, classifiers of another class count keep their fresh initialisation."""
    keras_source = not isinstance(weights, dict)
    if target.backend == "torch":
        if keras_source:
            weights = _keras_to_state(weights, target)
        _load_state(model, weights, target, where, fresh_ok)
    elif keras_source:
        _copy_keras(model, weights, target, where, fresh_ok)
    else:  # the same call depth as the torch target's: the warning's stacklevel holds
        twin = torch_twin(model, target)
        _load_state(twin, weights, target, where, fresh_ok)
        _copy_keras(model, _keras_of(twin, target), target, where, fresh_ok)


def torch_twin(keras_model: Any, target: Target) -> Any:
    """The spec's torch module with the Keras model's classes and aux heads: torch weights
    load into it on their way into the Keras model (a classifier that does not fit keeps
    the torch module's fresh initialisation, the spec's)."""
    aux = _keras_aux(keras_model, target.graph)
    return target.module("torch").build(num_classes=target.graph.num_classes, aux_logits=aux)


def _keras_of(torch_model: Any, target: Target) -> Any:
    """A whole Keras model of the spec holding `torch_model`'s weights."""
    from incept.backends.transfer import torch_to_keras

    build = target.module("keras").build
    keras_model = build(num_classes=target.graph.num_classes, aux_logits=torch_model.aux_logits)
    torch_to_keras(target.graph, torch_model, keras_model)
    return keras_model


def _keras_to_state(keras_model: Any, target: Target) -> dict[str, Any]:
    """A Keras model's weights as the torch module's state_dict (backends/transfer.py)."""
    from incept.backends.transfer import keras_to_torch

    aux = _keras_aux(keras_model, target.graph)
    torch_model = target.module("torch").build(num_classes=target.spec_classes, aux_logits=aux)
    keras_to_torch(target.graph, keras_model, torch_model)
    return dict(torch_model.state_dict())


def _keras_aux(keras_model: Any, graph: Graph) -> bool:
    """Whether a Keras model of the spec was built with its aux heads."""
    from incept.backends.keras import weight_layers

    names = {layer.name for layer in keras_model.layers}
    heads = {node for head in graph.aux_heads for node in head.nodes}
    parts = weight_layers(graph)
    return any(name in names for node in heads & set(parts) for name in parts[node].values())


def _classifier(want: tuple[int, ...], got: tuple[int, ...], classes: int) -> bool:
    """Shapes that differ in one axis only, where the model has `classes`."""
    if len(want) != len(got):
        return False
    differ = [i for i, (w, g) in enumerate(zip(want, got, strict=True)) if w != g]
    return len(differ) == 1 and want[differ[0]] == classes


def mismatch(where: str, name: str, got: tuple, want: tuple) -> InputError:
    return InputError(
        Code.PRETRAINED,
        where,
        f"does not fit: {name} is {_shape(got)} in the weights, {_shape(want)} in the model",
    )


def _shape(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _load_state(
    model: Any, state: Mapping[str, Any], target: Target, where: str, fresh_ok: bool
) -> None:
    import torch

    from incept.backends.torch import weight_modules

    own = model.state_dict()
    aux = {
        weight_modules(target.graph)[n][kind] + "."
        for head in target.graph.aux_heads
        for n in head.nodes
        if n in weight_modules(target.graph)
        for kind in weight_modules(target.graph)[n]
    }
    load, fresh = {}, []
    for key, tensor in own.items():
        value = state.get(key)
        if value is None:
            if key.endswith("num_batches_tracked"):
                continue
            raise InputError(
                Code.PRETRAINED,
                where,
                f"does not fit: the model's {key} ({_shape(tuple(tensor.shape))}) "
                "is not in the weights",
            )
        if not isinstance(value, torch.Tensor):
            raise InputError(Code.PRETRAINED, where, f"{key} is not a tensor")
        got, want = tuple(value.shape), tuple(tensor.shape)
        if got == want:
            load[key] = value
        elif fresh_ok and _classifier(want, got, target.graph.num_classes):
            fresh.append(key)
        else:
            raise mismatch(where, key, got, want)
    extra = [k for k in state if k not in own and not any(k.startswith(p) for p in aux)]
    if extra:
        raise InputError(
            Code.PRETRAINED,
            where,
            f"does not fit: the weights' {extra[0]} has no place in the model",
        )
    _warn_fresh(where, fresh, target.graph.num_classes)
    model.load_state_dict(load, strict=False)


def _copy_keras(model: Any, source: Any, target: Target, where: str, fresh_ok: bool) -> None:
    """A Keras model of the spec into `model` (the same spec), variable by path."""
    theirs = {v.path: v for v in source.weights}
    fresh = []
    for variable in model.weights:
        other = theirs.get(variable.path)
        if other is None:
            raise InputError(
                Code.PRETRAINED,
                where,
                f"does not fit: the model's {variable.path} is not in the weights",
            )
        got, want = tuple(other.shape), tuple(variable.shape)
        if got == want:
            variable.assign(other)
        elif fresh_ok and _classifier(want, got, target.graph.num_classes):
            fresh.append(variable.path)
        else:
            raise mismatch(where, variable.path, got, want)
    _warn_fresh(where, fresh, target.graph.num_classes)


def _warn_fresh(where: str, fresh: list[str], classes: int) -> None:
    if fresh:
        warnings.warn(
            f"{where}: {', '.join(fresh)} keep their fresh initialisation: the model has "
            f"{classes} classes, the weights another count",
            stacklevel=7,  # the caller of incept.create_model (create, load_into, load, ...)
        )
