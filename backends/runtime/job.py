"""A training job, backend-neutral: what to train, on what, how, and where to write.

`make_job` checks and resolves every input into a Job before anything is written;
`incept.runtime.driver.train(job)` then trains it. `identity(job)` is what a run *is*
(spec, recipe, data) and is stored in config.json and in every checkpoint, whichever
framework trained it.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incept.compiler.pipeline import Compiled, compile_spec
from incept.compiler.spec.schema import Training

from . import recipe as recipes
from .data import Dataset
from .rundir import RunDir

if TYPE_CHECKING:
    from .checkpoints import Checkpoint


@dataclass(frozen=True)
class Options:
    """How to run, as opposed to the recipe (what to learn). None: the device's default."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N (torch); auto | cpu | gpu (keras)
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    compile: bool | None = None  # torch.compile / XLA jit_compile; None: on for GPUs
    channels_last: bool | None = None  # torch memory format; None: on for CUDA
    seed: int = 0
    workers: int = 4  # loader processes for image folders
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
    init_from: Checkpoint | None = None  # a new run's weights come from this checkpoint


def make_job(spec: str, flags: Mapping[str, Any]) -> Job:
    """Everything checked and resolved before training starts: spec, recipe, data, the
    checkpoint a new run starts from."""
    from .checkpoints import check_architecture, open_checkpoint
    from .data.sources import channel_stats, check_fits, open_data
    from .errors import Code, InputError
    from .frameworks import SUFFIX

    compiled = compile_spec(spec)
    graph = compiled.graph
    recipe = recipes.from_flags(compiled.spec.training, flags)
    init_from = None
    if flags.get("init_from"):
        if flags["resume"]:
            raise InputError(Code.FLAG, "--init-from", "starts a new run; --resume continues one")
        init_from = open_checkpoint(flags["init_from"], spec)
        check_architecture(init_from.state, compiled.arch_sha256, init_from.path, Code.CHECKPOINT)
    data = open_data(flags["source"], flags["data_dir"], flags["limit_train"], flags["limit_test"])
    check_fits(data, channels=graph.input.shape[0], num_classes=graph.num_classes, where=spec)  # type: ignore[index]
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
    folder = flags["run_dir"] or Path("runs") / graph.name
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
        run=RunDir(folder, SUFFIX[flags["backend"]]),
        options=options,
        resume=flags["resume"],
        init_from=init_from,
    )


def identity(job: Job) -> dict[str, Any]:
    """What a run is, in both config.json and every checkpoint: spec, recipe, data."""
    graph = job.compiled.graph
    return {
        "backend": job.backend,
        **({"init_from": str(job.init_from.path)} if job.init_from else {}),
        "spec": {
            "path": job.spec_path,
            "name": graph.name,
            "sha256": graph.spec_sha256,
            "arch_sha256": job.compiled.arch_sha256,
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
