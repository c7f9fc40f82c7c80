"""`incept convert CKPT --to torch|keras -o OUT`: a checkpoint in the other framework.

Reads the source checkpoint (a run folder means its last checkpoint), compiles the
spec it names (architecture checked), builds both generated models with the same aux
heads and copies every weight and batch-norm statistic across with
`incept.backends.transfer` (matched by IR node, layouts transposed). The new
checkpoint carries the same identity (spec, recipe, data, history) plus
`converted_from`, and no optimizer state.

Both frameworks are loaded here: torch first, as the test suite does (TensorFlow
before torch._dynamo's triton crashes the process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .commands import CHECKPOINT_SUFFIX, checkpoint_file, load_frameworks, read_checkpoint
from .errors import Code, InputError
from .resume import checkpoint_spec


def convert_checkpoint(source: str, target: str, out: str, spec: str | None) -> Path:
    out_path = Path(out)
    path, backend = checkpoint_file(Path(source))
    if backend == target:
        raise InputError(Code.FLAG, "--to", f"{path} is a {backend} checkpoint already")
    if (out_path.suffix == ".keras") != (target == "keras"):
        raise InputError(
            Code.FLAG,
            "-o",
            f"a {target} checkpoint is named *{CHECKPOINT_SUFFIX[target]}, not {out_path}",
        )
    if out_path.exists():
        raise InputError(Code.FLAG, "-o", f"{out_path} exists; choose another name")

    load_frameworks(keras=True)
    import keras

    from incept.backends.transfer import keras_to_torch, torch_to_keras

    from .keras import checkpoint as keras_ckpt
    from .keras.model import build_model as keras_model
    from .torch import checkpoint as torch_ckpt
    from .torch.model import build_model as torch_model

    state = read_checkpoint(path, backend)
    compiled = checkpoint_spec(state, spec, path)
    aux = bool(state["recipe"].get("aux")) and bool(compiled.graph.aux_heads)
    folder = Path(tempfile.gettempdir()) / "incept-convert"
    keras.mixed_precision.set_global_policy("float32")
    k = keras_model(compiled, folder / "keras", aux=aux)
    t = torch_model(compiled, folder / "torch", aux=aux)
    identity = {
        key: value
        for key, value in state.items()
        if key not in ("format", "model", "optimizer", "scheduler", "scaler", "rng")
    }
    identity["backend"] = target
    identity["converted_from"] = {"path": str(path), "backend": backend}
    if backend == "keras":
        keras_ckpt.load_weights(k, path)
        keras_to_torch(compiled.graph, k, t)
        torch_ckpt.save(out_path, {**identity, "model": t.state_dict()})
    else:
        t.load_state_dict(state["model"])
        torch_to_keras(compiled.graph, t, k)
        keras_ckpt.save(out_path, k, identity)
    return out_path
