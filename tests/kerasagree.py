"""Torch vs Keras on one graph: build both generated models, transfer, compare outputs.

Shared by the TensorFlow-backend tests (in-process), the torch-backend check (run in a
subprocess with KERAS_BACKEND=torch, because Keras fixes its backend at import), the
random-spec agreement test and the benchmark. Import keras only after choosing the
backend, and after this module: TensorFlow and triton (loaded by torch._dynamo, as by
torchvision) both bundle LLVM; loading triton after TensorFlow segfaults, the other
order works, so this module imports torch._dynamo first.

Aux heads in torch run only in training mode, where dropout and batch norm behave
differently from Keras' training=False. So torch's aux outputs are computed in eval mode
by calling each aux module on its tap row's output, captured by a forward hook: the same
computation Keras performs when model(x, training=False) returns every output.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch._dynamo  # noqa: F401  before TensorFlow: see below
from genload import assert_sensitive, import_source, randomize, torch_module

from incept.backends import keras as keras_backend
from incept.backends.torch import module_paths
from incept.backends.transfer import keras_to_torch, torch_to_keras
from incept.compiler.ir.graph import Graph

TOLERANCE = 1e-4  # ||keras - torch|| / ||torch||, fp32
_names = itertools.count()


def keras_module(graph: Graph, directory: Path, name: str | None = None) -> ModuleType:
    name = name or f"gen_keras_{next(_names)}"
    return import_source(keras_backend.render(graph), name, directory)


def trainable_count(model) -> int:
    """Keras' count_params() includes the moving statistics; torch's parameters() do not."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def torch_outputs(graph: Graph, model: torch.nn.Module, x: np.ndarray) -> list[np.ndarray]:
    """Eval-mode logits, then each aux head's logits when the model has them (see above)."""
    model.eval()
    modules = dict(model.named_modules())
    paths = module_paths(graph)
    heads = [h for h in graph.aux_heads if modules.get(h.name) is not None]  # aux attrs: row names
    taps: dict[str, torch.Tensor] = {}
    handles = [
        modules[paths[h.input]].register_forward_hook(
            lambda _m, _i, out, key=h.input: taps.__setitem__(key, out)
        )
        for h in heads
    ]
    try:
        with torch.no_grad():
            outs = [model(torch.from_numpy(x))]
            outs += [modules[h.name](taps[h.input]) for h in heads]
    finally:
        for handle in handles:
            handle.remove()
    return [o.numpy() for o in outs]


def keras_outputs(model, x_nchw: np.ndarray) -> list[np.ndarray]:
    import keras

    out = model(x_nchw.transpose(0, 2, 3, 1), training=False)
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, list) else [out])]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def agreement(
    graph: Graph, directory: Path, aux: bool, batch: int = 2, seed: int = 0, sensitive: bool = False
) -> dict:
    """Transfer torch -> Keras and compare, then Keras -> a fresh torch model and compare.

    `sensitive`: also assert that the logits depend on the input (not true of every
    random spec: a 1-wide ReLU layer may be dead). Returns the worst relative errors {"torch->keras": e, "keras->torch": e}, the
    number of outputs compared and the Keras model's trainable count (so a caller checks
    it without building the model again)."""
    torch.manual_seed(seed)
    tmod = torch_module(graph, directory, f"gen_torch_{next(_names)}")
    kmod = keras_module(graph, directory)
    reference = tmod.build(aux_logits=aux)
    randomize(reference, seed)
    model = kmod.build(aux_logits=aux)
    torch_to_keras(graph, reference, model)
    x = np.random.default_rng(seed).standard_normal((batch, *graph.input.shape), dtype=np.float32)
    expected = torch_outputs(graph, reference, x)
    if sensitive:  # a comparison of bias-only logits would prove little
        assert_sensitive(expected[0], 1e-5)
    got = keras_outputs(model, x)
    assert len(got) == len(expected) == 1 + aux * len(graph.aux_heads)
    forward = max(rel(k, t) for k, t in zip(got, expected, strict=True))

    back = tmod.build(aux_logits=aux)  # fresh weights, overwritten from Keras
    keras_to_torch(graph, model, back)
    for key, value in reference.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    backward = max(rel(t, k) for t, k in zip(torch_outputs(graph, back, x), got, strict=True))
    return {
        "torch->keras": forward,
        "keras->torch": backward,
        "outputs": len(got),
        "trainable": trainable_count(model),
    }
