"""Which defaults train fastest: the runtime's choices measured on the shipped specs.

    python -m incept.bench.train_defaults [--spec FILE ...] [--batch-size N] [--steps 5]
        [--repeats 3] [--warmup 2] [--formats contiguous,channels_last]
        [--compile eager,compile] [--threads 1,2] [--seed 0] [-o FILE]

torch: one training step (forward, loss with the aux heads, backward, SGD step) of the
spec's generated module, built in memory from the same seed, for every combination of
memory format {contiguous, channels_last} x {eager, torch.compile (inductor)} x threads
(--formats, --compile, --threads), plus the runtime's CPU default (contiguous, eager,
torch's own thread count), all in this process. Each repeat times every
configuration in turn (the starting one rotating), so a machine whose load changes
mid-run slows all alike; each figure is the median of --repeats. The ratio is each
configuration's img/s over the runtime's CPU default (contiguous, eager, torch's
default thread count). Keras: the same spec's generated Keras model, `train_on_batch`
with `model.compile(jit_compile=False)` (the runtime's CPU default) and with XLA
(`jit_compile=True`), timed alike in a child process (TensorFlow loads apart from torch).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import bench_common

SPECS = ("specs/googlenet-fmnist-lite.yaml", "specs/googlenet-cifar.yaml")
FORMATS = ("contiguous", "channels_last")
COMPILE = ("eager", "compile")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incept.bench.train_defaults", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--spec", action="append", help=f"[default: {' and '.join(SPECS)}]")
    parser.add_argument("--batch-size", type=int, help="[default: the spec's training batch]")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compiles, traces)")
    parser.add_argument("--formats", type=_subset(FORMATS), default=FORMATS)
    parser.add_argument("--compile", type=_subset(COMPILE), default=COMPILE)
    parser.add_argument("--threads", type=_counts, default=(1, 2), help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="write the results as JSON")
    # internal: the child process that times Keras writes its results here
    parser.add_argument("--keras-child", type=Path, help=argparse.SUPPRESS)
    return parser


def _subset(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        picked = [v.strip() for v in value.split(",") if v.strip()]
        if not picked or set(picked) - set(allowed):
            raise argparse.ArgumentTypeError(f"{value!r}: expected a subset of {','.join(allowed)}")
        return tuple(v for v in allowed if v in picked)

    return parse


def _counts(value: str) -> tuple[int, ...]:
    try:
        counts = sorted({int(v) for v in value.split(",")})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected thread counts like 1,2")
    return tuple(counts)


def _rounds(timers: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each configuration (already warm) timed in turn per repeat, the first one rotating:
    seconds per step, one figure per repeat."""
    names = list(timers)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(timers[name]())
    return times


def _rows(configs: dict[str, dict], times: dict[str, list[float]], batch: int, ref: str) -> list:
    reference = batch / statistics.median(times[ref])
    rows = []
    for name, config in configs.items():
        img_per_s = batch / statistics.median(times[name])
        rows.append(
            {
                **config,
                "img_per_s": img_per_s,
                "step_s": times[name],
                "ratio": img_per_s / reference,
            }
        )
    return rows


# -- torch ---------------------------------------------------------------------------


def _torch_timer(graph: Any, recipe: Any, config: dict, batch: int, args: argparse.Namespace):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    aux = bool(recipe.aux and graph.aux_heads)
    model = bench_common.import_generated(graph, "torch").build(aux_logits=aux).train()
    weights = [h.loss_weight or 0.0 for h in graph.aux_heads] if aux else []
    layout = torch.channels_last if config["memory_format"] == "channels_last" else None
    if layout is not None:
        model = model.to(memory_format=layout)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    threads = config["threads"]
    if config["compile"] == "compile":  # inductor's C++ kernels bake in their thread count
        model = torch.compile(model, options={"cpp.threads": threads})
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(batch, *graph.input.shape, generator=gen)
    x = x.contiguous(memory_format=layout) if layout is not None else x
    y = torch.randint(0, graph.num_classes, (batch,), generator=gen)
    smoothing = recipe.label_smoothing

    def step() -> None:
        out = model(x)
        logits, *heads = (out,) if isinstance(out, torch.Tensor) else out
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        for weight, head in zip(weights, heads, strict=True):
            loss = loss + weight * F.cross_entropy(head, y, label_smoothing=smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed(steps: int) -> float:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - start) / steps

    if args.warmup:
        timed(args.warmup)
    return lambda: timed(args.steps)


def measure_torch(graph: Any, recipe: Any, batch: int, args: argparse.Namespace) -> dict:
    import torch

    default_threads = torch.get_num_threads()
    reference = f"contiguous eager {default_threads}"
    configs: dict[str, dict[str, Any]] = {
        reference: {"memory_format": "contiguous", "compile": "eager"}
    }
    for t in args.threads:
        configs.update(
            {
                f"{f} {c} {t}": {"memory_format": f, "compile": c}
                for c in args.compile
                for f in args.formats
            }
        )
    configs = {
        name: {**config, "threads": int(name.split()[-1])} for name, config in configs.items()
    }
    timers: dict[str, Callable[[], float]] = {}
    for name, config in configs.items():
        print(f"  torch: building and warming up {name}", file=sys.stderr, flush=True)
        timers[name] = _torch_timer(graph, recipe, config, batch, args)
    times = _rounds(timers, args.repeats)
    torch.set_num_threads(default_threads)
    return {
        "version": torch.__version__,
        "default_threads": default_threads,
        "reference": configs[reference],
        "results": _rows(configs, times, batch, reference),
    }


# -- Keras (in a child process) ------------------------------------------------------


def _keras_child(spec: str, batch: int, args: argparse.Namespace) -> None:
    """Time Keras' train_on_batch without and with XLA; write the results to --keras-child."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    from incept.compiler.pipeline import compile_spec

    compiled = compile_spec(spec)
    graph, recipe = compiled.graph, compiled.spec.training
    aux = bool(recipe.aux and graph.aux_heads)
    weights = [h.loss_weight or 0.0 for h in graph.aux_heads] if aux else []
    rng = np.random.default_rng(args.seed)
    c, h, w = graph.input.shape  # type: ignore[misc]  # an image input: (C, H, W)
    x = rng.standard_normal((batch, h, w, c)).astype(np.float32)
    y = rng.integers(0, graph.num_classes, batch)
    labels = [y] * (1 + len(weights)) if weights else y
    configs = {f"jit_compile={jit}": {"jit_compile": jit} for jit in (False, True)}
    timers: dict[str, Callable[[], float]] = {}
    for name, config in configs.items():
        keras.utils.set_random_seed(args.seed)
        model = bench_common.import_generated(graph, "keras").build(aux_logits=aux)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(
            optimizer=keras.optimizers.SGD(
                learning_rate=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov
            ),
            loss=[loss] * (1 + len(weights)) if weights else loss,
            loss_weights=[1.0, *weights] if weights else None,
            jit_compile=config["jit_compile"],
        )

        def timed(steps: int, model: Any = model) -> float:
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, labels)
            return (time.perf_counter() - start) / steps

        print(f"  keras: building and warming up {name}", file=sys.stderr, flush=True)
        if args.warmup:
            timed(args.warmup)
        timers[name] = functools.partial(timed, args.steps)
    times = _rounds(timers, args.repeats)
    result = {
        "version": keras.__version__,
        "backend": keras.backend.backend(),
        "reference": configs["jit_compile=False"],
        "results": _rows(configs, times, batch, "jit_compile=False"),
    }
    args.keras_child.write_text(json.dumps(result))


def measure_keras(spec: str, batch: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "keras.json"
        flags = ["--steps", str(args.steps), "--repeats", str(args.repeats)]
        flags += ["--warmup", str(args.warmup), "--seed", str(args.seed)]
        cmd = [sys.executable, "-m", "incept.bench.train_defaults", "--spec", spec]
        cmd += [*flags, "--batch-size", str(batch), "--keras-child", str(out)]
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        subprocess.run(cmd, check=True, env=env)
        result: dict = json.loads(out.read_text())
        return result


# -- report --------------------------------------------------------------------------


def _print(entry: dict) -> None:
    print(f"{entry['spec']} (batch {entry['batch']}, aux {entry['aux']}): img/s, ratio to default")
    for row in entry["torch"]["results"]:
        label = f"torch {row['memory_format']:13s} {row['compile']:7s} {row['threads']:2d} threads"
        print(f"  {label:45s} {row['img_per_s']:8.1f} {row['ratio']:6.2f}x")
    for row in entry["keras"]["results"]:
        label = f"keras jit_compile={row['jit_compile']}"
        print(f"  {label:45s} {row['img_per_s']:8.1f} {row['ratio']:6.2f}x")


def main(argv: list[str] | None = None) -> dict | None:
    args = _parser().parse_args(argv)
    if min(args.steps, args.repeats) < 1 or args.warmup < 0:
        _parser().error("--steps and --repeats must be at least 1, --warmup at least 0")
    from incept.compiler.errors import UserError

    try:
        return _run(args)
    except UserError as err:  # a bad spec: its one line, exit 2
        print(err, file=sys.stderr)
        raise SystemExit(err.exit_status) from None


def _run(args: argparse.Namespace) -> dict | None:
    from incept.compiler.pipeline import compile_spec

    specs = args.spec or list(SPECS)
    if args.keras_child:
        recipe = compile_spec(specs[0]).spec.training
        _keras_child(specs[0], int(args.batch_size or recipe.batch_size), args)
        return None
    started = bench_common.utc_now()
    entries = []
    for spec in specs:
        compiled = compile_spec(spec)
        graph, recipe = compiled.graph, compiled.spec.training
        batch = int(args.batch_size or recipe.batch_size)
        entry = {
            "spec": spec,
            "model": graph.name,
            "batch": batch,
            "aux": bool(recipe.aux and graph.aux_heads),
        }
        entry["torch"] = measure_torch(graph, recipe, batch, args)
        entry["keras"] = measure_keras(spec, batch, args)
        _print(entry)
        entries.append(entry)
    report = {
        "schema": 1,
        "date": started,
        "finished": bench_common.utc_now(),
        "argv": sys.argv,
        "machine": bench_common.machine(None),
        "settings": {k: getattr(args, k) for k in ("steps", "repeats", "warmup", "seed")},
        "specs": entries,
    }
    if args.output:
        bench_common.write_json(args.output, report)
    return report


if __name__ == "__main__":
    main()
