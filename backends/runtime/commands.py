"""What `incept train / eval / predict` do, after click has parsed the flags.

The backend-neutral part of each command lives here (compile the spec, resolve the
recipe, open and check the data); the framework's part is imported from its folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incept.compiler.pipeline import compile_spec

from . import recipe as recipes
from .data import ArraySplit, Dataset, FileSplit, Split
from .errors import Code, InputError
from .rundir import RunDir

if TYPE_CHECKING:
    from types import ModuleType

    from .job import Job


def backend_module(name: str) -> ModuleType:
    """incept.runtime.torch or incept.runtime.keras, which load their framework."""
    from importlib import import_module

    return import_module(f"incept.runtime.{name}")


#: The checkpoint file each backend writes.
CHECKPOINT_SUFFIX = {"torch": ".pt", "keras": ".keras"}


def checkpoint_backend(path: Path) -> str:
    """Which framework wrote a run folder or a checkpoint file."""
    if path.is_dir():
        config = RunDir(path).config
        if not config.is_file():
            raise InputError(Code.CHECKPOINT, path, "is not a run folder (no config.json)")
        return str(RunDir(path).read_config().get("backend", "torch"))
    return "keras" if path.suffix == ".keras" else "torch"


def checkpoint_file(target: Path, best: bool = False) -> tuple[Path, str]:
    """A checkpoint file, or a run folder's last (or best) one, and the framework that
    wrote it."""
    backend = checkpoint_backend(target)
    if not target.is_dir():
        return target, backend
    run = RunDir(target, CHECKPOINT_SUFFIX[backend])
    return (run.best if best else run.last), backend


def read_checkpoint(path: Path, backend: str) -> dict[str, Any]:
    """A checkpoint's state: spec identity, recipe, weights (as its framework reads it)."""
    if backend == "keras":
        from .keras import checkpoint as keras_ckpt

        return keras_ckpt.read_state(path)
    from .torch import checkpoint as torch_ckpt

    return torch_ckpt.load(path)


def load_frameworks(keras: bool) -> None:
    """Import torch (and torch._dynamo) before TensorFlow: the other order crashes the
    process in triton. With `keras`, Keras is pointed at TensorFlow."""
    import torch  # noqa: F401

    try:
        import torch._dynamo  # noqa: F401
    except ImportError:
        pass
    if keras:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _limit(split: Split, n: int | None, flag: str) -> Split:
    if n is None:
        return split
    if n < 1:
        raise InputError(Code.FLAG, flag, f"must be at least 1, got {n}")
    if isinstance(split, ArraySplit):
        return ArraySplit(split.images[:n], split.labels[:n])
    return FileSplit(split.paths[:n], split.labels[:n])


def open_data(
    source: str, data_dir: str | None, limit_train: int | None = None, limit_test: int | None = None
) -> Dataset:
    from .data.sources import open_dataset

    data = open_dataset(source, data_dir)
    return replace(
        data,
        train=_limit(data.train, limit_train, "--limit-train"),
        test=_limit(data.test, limit_test, "--limit-test"),
    )


def make_job(spec: str, flags: Mapping[str, Any], recipe_flags: Mapping[str, Any]) -> Job:
    """Everything checked and resolved before training starts: spec, recipe, data."""
    from .cli import RECIPE_FLAGS
    from .data.sources import channel_stats, check_fits
    from .job import Job, Options

    compiled = compile_spec(spec)
    graph = compiled.graph
    recipe = recipes.resolve(
        compiled.spec.training, {RECIPE_FLAGS[k]: v for k, v in recipe_flags.items()}
    )
    data = open_data(flags["source"], flags["data_dir"], flags["limit_train"], flags["limit_test"])
    channels = graph.input.shape[0]  # type: ignore[index]
    check_fits(data, channels=channels, num_classes=graph.num_classes, where=spec)
    mean, std = channel_stats(data.train)
    options = Options(
        device=flags["device"],
        precision=flags["precision"],
        compile=flags["compile_"],
        channels_last=flags["channels_last"],
        seed=flags["seed"],
        workers=flags["workers"],
        progress=flags["progress"],
    )
    run = RunDir(flags["out"] or Path("runs") / graph.name, CHECKPOINT_SUFFIX[flags["backend"]])
    return Job(
        backend=flags["backend"],
        compiled=compiled,
        spec_path=spec,
        recipe=recipe,
        data=data,
        data_source=flags["source"],
        data_dir=str(Path(flags["data_dir"]).resolve()) if flags["data_dir"] else None,
        mean=mean,
        std=std,
        run=run,
        options=options,
        resume=flags["resume"],
    )


def train_command(spec: str, flags: Mapping[str, Any], recipe_flags: Mapping[str, Any]) -> None:
    job = make_job(spec, flags, recipe_flags)
    backend = backend_module(job.backend)
    trained = backend.run(job)
    if trained.journal.history:
        backend.write_report(job.run.last, job.run, job.data, spec=spec, device=flags["device"])


def eval_command(target: str, flags: Mapping[str, Any]) -> None:
    # A run folder is evaluated at its final weights; name checkpoints/best.* to see those.
    checkpoint, backend = checkpoint_file(Path(target))
    summary = backend_module(backend).evaluate_checkpoint(checkpoint, flags)
    if flags["as_json"]:
        print(json.dumps(summary, indent=2))
        return
    from .report_text import print_summary

    print_summary(summary)


def predict_command(checkpoint: str, images: tuple[str, ...], flags: Mapping[str, Any]) -> None:
    path = Path(checkpoint)
    backend = backend_module(checkpoint_backend(path))
    results = backend.predict_images(path, [Path(i) for i in images], flags)
    if flags["as_json"]:
        print(json.dumps(results, indent=2))
        return
    for item in results:
        ranked = "  ".join(f"{p['class']} {p['probability']:.3f}" for p in item["top"])
        print(f"{item['image']}: {ranked}")
