"""The generated Keras model vs a Keras reference, TensorFlow CPU.

`--vs keras-reference`: the hand-written GoogLeNet of keras_reference.py; the layer
graphs differ (LRN, padding, pools), so only trainable parameter counts are compared.
`--vs keras-applications`: keras.applications' model of the same network
(APPLICATIONS, weights=None, logits out); where both list the same weights in the same
order (InceptionV3, InceptionResNetV2) the generated model's are copied into it and
the outputs compared before anything is timed. Both models get random He-uniform
kernels, small biases and non-trivial batch-norm statistics from one seeded generator
(activations stay O(1), as in bench_torch.py). Inference: predict_on_batch (a tf.function) on the
logits-only model that shares the trained model's layers; latency: the same at batch
1; training: train_on_batch with SGD (lr 0.01, momentum 0.9) and sparse cross-entropy on
the logits plus 0.3 x each aux head's.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before anything imports keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from incept.compiler.errors import UserError  # noqa: E402
from incept.runtime.pretrained import SOURCES  # noqa: E402

from . import bench_common, keras_reference  # noqa: E402


def randomize(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
        if name == "kernel":
            bound = (6.0 / np.prod(shape[:-1])) ** 0.5
            value = rng.uniform(-bound, bound, shape)
        elif name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        else:  # bias, beta, moving_mean
            value = rng.standard_normal(shape) * 0.1
        w.assign(value.astype(np.float32))


def trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _compile(model: keras.Model) -> keras.Model:
    n = len(model.outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True)] * n,
        loss_weights=[1.0] + [0.3] * (n - 1),
    )
    return model


def _check(graph: Any, generated: keras.Model, reference: keras.Model, profile: str, aux: bool):
    counts = {"generated": trainable(generated), "reference": trainable(reference)}
    spec = graph.params(aux=aux)
    lines = [
        f"reference: bench/keras_reference.py, profile {profile!r} (see its docstring for how "
        "it differs from the spec)"
    ]
    same = counts["generated"] == counts["reference"]
    why = (
        ""
        if same
        else f" - differ by {counts['generated'] - counts['reference']:+,}: the spec is not "
        f"Table 1's GoogLeNet at 224x224 in the {profile!r} profile (width, input size or layers)"
    )
    lines.append(
        f"trainable parameters: generated {counts['generated']:,} (spec: {spec:,}), "
        f"reference {counts['reference']:,}" + (" (same)" if same else why)
    )
    return {
        "profile": profile,
        "params_generated": counts["generated"],
        "params_reference": counts["reference"],
        "params_spec": spec,
        "outputs_compared": False,
        "lines": lines,
    }


#: spec name -> keras.applications model of the same network (the `pretrained="keras"` table)
APPLICATIONS = {spec: refs["keras"].name for spec, refs in SOURCES.items() if "keras" in refs}
TOLERANCE = 1e-5  # ||generated - keras.applications|| / ||keras.applications||, fp32


def application(graph: Any) -> keras.Model:
    """keras.applications' model of `graph`'s network at its input size and classes."""
    if graph.name not in APPLICATIONS:
        known = ", ".join(sorted(APPLICATIONS))
        raise UserError(
            f"incept bench: error[reference]: keras.applications has no model of spec "
            f"{graph.name!r} (specs with one: {known})"
        )
    c, h, w = graph.input.shape
    return getattr(keras.applications, APPLICATIONS[graph.name])(
        weights=None, input_shape=(h, w, c), classes=graph.num_classes,
        classifier_activation=None,
    )  # fmt: skip


def share_and_compare(generated: keras.Model, reference: keras.Model, seed: int) -> dict:
    """Copy the generated model's weights into the reference where both list the same
    shapes in the same order, and compare their outputs; else say they differ."""
    mine, theirs = generated.weights, reference.weights
    if [tuple(w.shape) for w in mine] != [tuple(w.shape) for w in theirs]:
        return {"shared_weights": False, "reason": "the weight lists differ in order or shape"}
    for target, source in zip(theirs, mine, strict=True):
        target.assign(source)
    x = np.random.default_rng(seed).standard_normal((2, *generated.input.shape[1:]))
    a = keras.ops.convert_to_numpy(_main(generated)(x.astype(np.float32), training=False))
    b = keras.ops.convert_to_numpy(reference(x.astype(np.float32), training=False))
    rel = float(np.linalg.norm(a - b)) / max(float(np.linalg.norm(b)), 1e-12)
    if not rel <= TOLERANCE:
        raise RuntimeError(f"generated and keras.applications outputs differ: rel. diff {rel:.2e}")
    return {"shared_weights": True, "rel_diff": rel}


def _applications_check(graph: Any, generated: keras.Model, reference: keras.Model, seed: int):
    counts = {"generated": trainable(generated), "reference": trainable(reference)}
    same = " (same)" if counts["generated"] == counts["reference"] else " (differ)"
    check = {
        "reference": f"keras.applications.{APPLICATIONS[graph.name]}",
        "params_generated": counts["generated"],
        "params_reference": counts["reference"],
        **share_and_compare(generated, reference, seed),
    }
    shared = (
        f"same weights in both; outputs agree: rel. diff {check['rel_diff']:.1e}"
        if check["shared_weights"]
        else f"weights NOT shared ({check['reason']}): timed with their own random weights"
    )
    check["lines"] = [
        f"trainable parameters: generated {counts['generated']:,}, {check['reference']} "
        f"{counts['reference']:,}{same}",
        shared,
    ]
    return check


def _main(model: keras.Model) -> keras.Model:
    return keras.Model(model.inputs, model.outputs[0]) if len(model.outputs) > 1 else model


def _steps(model: keras.Model, mode: str, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    if mode == "train":
        targets = [y] * len(model.outputs)
        return lambda: model.train_on_batch(x, targets)
    logits = _main(model)
    return lambda: logits.predict_on_batch(x)


def _timed(step: Callable[[], Any]) -> bench_common.Timer:
    def run() -> float:
        begin = time.perf_counter()
        step()
        return time.perf_counter() - begin

    return run


def _hand_written(graph: Any, options: dict[str, Any], aux: bool) -> keras.Model:
    profile = options.get("reference_profile") or keras_reference.profile_for(graph)
    try:
        return keras_reference.build(profile, graph.num_classes, aux, graph.input.shape[1])
    except ValueError as exc:  # a pool larger than its input: Keras says which
        raise UserError(
            f"incept bench: error[reference]: the hand-written GoogLeNet cannot take "
            f"{graph.input.shape[1]}x{graph.input.shape[2]} inputs ({str(exc).splitlines()[0]})"
        ) from None


def measure(graph: Any, options: dict[str, Any]) -> tuple[dict, dict, list, dict]:
    # keras.applications' models have no aux heads
    aux = options["aux"] and graph.aux_logits and options.get("vs") != "keras-applications"
    settings = {
        "device": "cpu",
        "backend": keras.backend.backend(),
        "batch": options["batch"] or 8,
        "latency_batch": 1,
        "modes": list(options["modes"] or ("infer", "train", "latency")),
        "repeats": options["repeats"],
        "warmup": options["warmup"],
        "aux": aux,
        "seed": options["seed"],
        "timing": "time.perf_counter per step",
        "optimizer": "SGD(0.01, momentum=0.9)",
    }
    graphs = options.get("graphs") or {"infer": graph, "train": graph}
    settings["optimized"] = {kind: list(g.optimized) for kind, g in graphs.items()}
    models = {
        kind: bench_common.import_generated(g, "keras").build(aux_logits=aux)
        for kind, g in graphs.items()
    }
    applications = options.get("vs") == "keras-applications"
    reference = application(graph) if applications else _hand_written(graph, options, aux)
    for model in (*models.values(), reference):
        randomize(model, options["seed"])
    if applications:
        check = _applications_check(graph, models["infer"], reference, options["seed"])
    else:  # the training module keeps the spec's parameters (fold_bn, inference only, not)
        profile = options.get("reference_profile") or keras_reference.profile_for(graph)
        check = _check(graph, models["train"], reference, profile, aux)
    for model in (*models.values(), reference):
        _compile(model)
    check["lines"] += [
        f"{kind} module: --opt {','.join(g.optimized) or 'none'}" for kind, g in graphs.items()
    ]
    settings["jit_compile"] = models["infer"].jit_compile
    rng = np.random.default_rng(options["seed"])
    c, h, w = graph.input.shape
    x = rng.standard_normal((settings["batch"], h, w, c)).astype(np.float32)
    y = rng.integers(0, graph.num_classes, settings["batch"])
    rows = []
    for mode in settings["modes"]:
        batch = 1 if mode == "latency" else settings["batch"]
        generated = models["train" if mode == "train" else "infer"]
        ours, theirs = (
            _timed(_steps(m, mode, x[:batch], y[:batch])) for m in (generated, reference)
        )
        times = bench_common.alternate(ours, theirs, settings["warmup"], settings["repeats"])
        config = {"mode": mode, "precision": "fp32", "memory_format": "NHWC"}
        config["compile"] = "tf.function" if settings["backend"] == "tensorflow" else "backend"
        rows.append(bench_common.row(config, batch, times))
    versions = {"keras": keras.__version__, "numpy": np.__version__}
    if settings["backend"] == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return settings, check, rows, {"gpu": None, "versions": versions}
