"""What weight averaging (`ema`) costs a training step, torch and Keras, CPU.

    python -m incept.bench.ema_cost [--spec FILE] [--batch-size N] [--repeats 10]
        [--warmup 2] [--seed 0] [--backends torch,keras] [-o FILE]

Each backend builds the spec's generated model (aux heads as the recipe trains them)
and times one training step (forward, loss, backward, the recipe's optimizer) with
and without the average's update after it, alternating the two (bench_common.alternate)
on the same model and batch; the ratio is img/s with averaging over img/s without.
torch: channels_last, eager (the runtime's CPU defaults); Keras: one tf.function per
step, as incept.runtime.keras.session runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import bench_common

SPEC = "specs/googlenet-fmnist-lite.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incept.bench.ema_cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--spec", default=SPEC, help=f"[default: {SPEC}]")
    parser.add_argument("--batch-size", type=int, help="[default: the spec's training batch]")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="torch,keras")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON report here")
    return parser


def _torch_timers(graph: Any, recipe: Any, batch: int, seed: int) -> tuple[Any, Any]:
    import torch

    from incept.runtime.torch.ema import Average
    from incept.runtime.torch.loss import training_loss
    from incept.runtime.torch.optim import make_optimizer

    torch.manual_seed(seed)
    aux = bool(recipe.aux and graph.aux_heads)
    model = bench_common.import_generated(graph, "torch").build(aux_logits=aux).train()
    model = model.to(memory_format=torch.channels_last)
    weights = [h.loss_weight or 0.0 for h in graph.aux_heads] if aux else []
    optimizer = make_optimizer(model, recipe)
    average = Average(model, 0.999)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *graph.input.shape, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, graph.num_classes, (batch,), generator=gen)

    def timer(averaged: bool):
        def step() -> float:
            start = time.perf_counter()
            loss, _ = training_loss(model(x), y, weights, recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if averaged:
                average.update()
            return time.perf_counter() - start

        return step

    return timer(True), timer(False)


def _keras_timers(graph: Any, recipe: Any, batch: int, seed: int) -> tuple[Any, Any]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np
    import tensorflow as tf

    from incept.runtime.keras.ema import Average
    from incept.runtime.keras.optim import CrossEntropy, compile_model

    keras.utils.set_random_seed(seed)
    aux = bool(recipe.aux and graph.aux_heads)
    model = bench_common.import_generated(graph, "keras").build(aux_logits=aux)
    heads = graph.aux_heads if aux else ()
    loss_weights = [1.0, *(h.loss_weight or 0.0 for h in heads)]
    compile_model(model, recipe, 100, loss_weights[1:], jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    average, loss_fn = Average(model, 0.999), CrossEntropy(recipe.label_smoothing)
    rng = np.random.default_rng(seed)
    x = tf.constant(
        rng.normal(size=(batch, *graph.input.shape[1:], graph.input.shape[0])), "float32"
    )
    y = tf.constant(rng.integers(0, graph.num_classes, batch), "int32")

    def train(averaged: bool):
        def step(images: Any, labels: Any) -> None:
            with tf.GradientTape() as tape:
                out = model(images, training=True)
                outs = out if isinstance(out, list | tuple) else [out]
                loss = tf.reduce_mean(
                    sum(
                        w * loss_fn.call(labels, o) for w, o in zip(loss_weights, outs, strict=True)
                    )
                )
            model.optimizer.apply(
                tape.gradient(loss, model.trainable_variables), model.trainable_variables
            )
            if averaged:
                average.update()

        compiled = tf.function(step)

        def timed() -> float:
            start = time.perf_counter()
            compiled(x, y)
            float(average.updates.numpy())  # waits for the step
            return time.perf_counter() - start

        return timed

    return train(True), train(False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    backends = args.backends.split(",")
    if args.repeats < 1 or args.warmup < 0 or not set(backends) <= {"torch", "keras"}:
        _parser().error("--repeats must be at least 1, --warmup at least 0, --backends torch,keras")
    from incept.compiler.errors import UserError

    try:
        report = _run(args, backends, argv)
    except UserError as err:  # a bad spec: its one line, exit 2
        print(err, file=sys.stderr)
        raise SystemExit(err.exit_status) from None
    text = json.dumps(report, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
    print(text)
    return report


def _run(args: argparse.Namespace, backends: list[str], argv: list[str] | None) -> dict[str, Any]:
    from incept.compiler.pipeline import compile_spec

    compiled = compile_spec(args.spec)
    graph, recipe = compiled.graph, compiled.spec.training
    batch = args.batch_size or recipe.batch_size
    report: dict[str, Any] = {
        "benchmark": "ema_cost",
        "spec": args.spec,
        "machine": bench_common.machine(None),
        "date": bench_common.utc_now(),
        "command": " ".join(["python -m incept.bench.ema_cost", *(argv or sys.argv[1:])]),
        "rows": [],
    }
    makers = {"torch": _torch_timers, "keras": _keras_timers}
    for backend in backends:
        averaged, plain = makers[backend](graph, recipe, batch, args.seed)
        times = bench_common.alternate(averaged, plain, args.warmup, args.repeats)
        row = bench_common.row({"backend": backend, "mode": "train"}, batch, times)
        row["meaning"] = "generated: with the average's update; reference: without"
        report["rows"].append(row)
    return report


if __name__ == "__main__":
    main()
