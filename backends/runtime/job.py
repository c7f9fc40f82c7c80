"""A training job, backend-neutral: what to train, on what, how, and where to write.

`incept.runtime.train.make_job` checks and resolves every input into a Job before
anything is written; `incept.runtime.driver.train(job)` then trains it. `identity(job)` is what a run *is*
(spec, recipe, data) and is stored in config.json and in every checkpoint, whichever
framework trained it.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from incept.compiler.pipeline import Compiled
from incept.compiler.spec.schema import Training

from .data import Dataset
from .rundir import RunDir

if TYPE_CHECKING:
    from .checkpoints import Checkpoint
    from .weights import Weights


def default_workers() -> int:
    """Image-folder loader processes: 4, or one per usable core where there are fewer
    (more loaders than cores only take turns with the training step)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, usable or 1)


@dataclass(frozen=True)
class Options:
    """How to run, as opposed to the recipe (what to learn). None: the device's default."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N (torch); auto | cpu | gpu (keras)
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    compile: bool | None = None  # torch.compile / XLA jit_compile; None: on for GPUs
    channels_last: bool | None = None  # torch memory format; None: on for CUDA
    seed: int = 0
    workers: int = field(default_factory=default_workers)  # image-folder loaders
    replicas: int = 1  # keras: data-parallel replicas in this process (torch: torchrun)
    progress: bool = True


@dataclass(frozen=True)
class Job:
    backend: str  # torch | keras
    compiled: Compiled
    spec_path: str
    recipe: Training
    data: Dataset
    data_source: str
    data_dir: str | None  # absolute, as given by --data-dir (None: the default search)
    mean: Sequence[float]
    std: Sequence[float]
    run: RunDir
    options: Options
    resume: bool
    #: A new run's weights: another run's checkpoint, a library's weights or a weights file.
    init_from: Checkpoint | Weights | None = None
    freeze: tuple[str, ...] = ()  # rows whose weights stay fixed (--freeze)
    num_classes: int | None = None  # --num-classes: the spec's own count replaced


def identity(job: Job) -> dict[str, Any]:
    """What a run is, in both config.json and every checkpoint: spec, recipe, data."""
    graph = job.compiled.graph
    return {
        "backend": job.backend,
        **(job.init_from.record() if job.init_from else {}),
        **({"freeze": list(job.freeze)} if job.freeze else {}),
        "spec": {
            "path": graph.spec_path,  # the file read (a model's name resolved to its file)
            "name": graph.name,
            "sha256": graph.spec_sha256,
            "arch_sha256": job.compiled.arch_sha256,
            **({"num_classes": job.num_classes} if job.num_classes else {}),
        },
        "recipe": job.recipe.model_dump(mode="json"),
        "data": {
            "source": job.data_source,
            "data_dir": job.data_dir,
            "classes": list(job.data.classes),
            "channels": job.data.channels,
            "train_images": len(job.data.train),
            "test_images": len(job.data.test),
            "mean": list(job.mean),
            "std": list(job.std),
        },
    }


def run_config(job: Job, runtime: Mapping[str, Any], versions: Mapping[str, str]) -> dict[str, Any]:
    """config.json: the run's identity, how it ran (device, precision, ...) and versions."""
    return {
        **identity(job),
        "runtime": {**runtime, "seed": job.options.seed},
        "versions": {"python": platform.python_version(), **versions},
        "command": " ".join(["incept", *sys.argv[1:]]),
    }
