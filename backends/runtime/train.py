"""`incept train` after the flags parse: resolve the job, drive it, report, and say
where everything is."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from incept.compiler.pipeline import classes_mismatch, compile_spec

from . import finetune
from . import recipe as recipes
from .data.sources import channel_stats, check_fits, open_data
from .errors import Code, InputError
from .frameworks import SUFFIX
from .job import Job, Options, default_workers
from .rundir import RunDir
from .weights import Weights, open_init_source


def train_command(spec: str, flags: Mapping[str, Any]) -> None:
    from .driver import train
    from .evaluation import write_report

    job = make_job(spec, flags)
    journal = train(job)
    if not journal.history or not _is_main():
        return
    write_report(job.run, job.data, spec=spec, device=flags["device"])
    run = job.run
    best = max(journal.history, key=lambda r: r["test_acc"])
    click.echo(
        "\n".join(
            [
                f"run folder   {run.path}",
                f"checkpoints  {run.last} (last), {run.best} (best: epoch {int(best['epoch'])},"
                f" test accuracy {best['test_acc']:.4f})"
                + (f"; weights averaged (ema {job.recipe.ema:g})" if job.recipe.ema else ""),
                f"metrics      {run.metrics}, {run.evaluation}, TensorBoard: {run.tensorboard}",
                f"pictures     {run.curves}, {run.confusion}, {run.predictions}, {run.augmented}",
                f"next         incept eval {run.path}  |  incept predict {run.path} IMAGE  |  "
                f"incept export {run.path} --onnx model.onnx",
            ]
        ),
        err=True,
    )


def make_job(spec: str, flags: Mapping[str, Any]) -> Job:
    """Everything checked and resolved before training starts: spec, recipe, data, the
    checkpoint a new run starts from."""
    num_classes = flags.get("num_classes")
    compiled = compile_spec(spec, num_classes=num_classes)
    graph = compiled.graph
    wrong = num_classes and classes_mismatch(graph, num_classes)
    if wrong:
        raise InputError(Code.FLAG, "--num-classes", f"{spec}: {wrong}")
    recipe = recipes.from_flags(compiled.spec.training, flags)
    init_from = None
    if flags.get("init_from"):
        if flags["resume"]:
            raise InputError(Code.FLAG, "--init-from", "starts a new run; --resume continues one")
        init_from = open_init_source(flags["init_from"], compiled)
    freeze = finetune.frozen_rows(flags.get("freeze"), graph, spec)
    if freeze and flags["resume"]:
        raise InputError(Code.FLAG, "--freeze", "applies to a new run; --resume keeps the run's")
    data = open_data(flags["source"], flags["data_dir"], flags["limit_train"], flags["limit_test"])
    channels = graph.input.shape[0]  # type: ignore[index]
    check_fits(data, channels=channels, num_classes=graph.num_classes, where=spec, flag=True)
    if isinstance(init_from, Weights) and init_from.reference is not None:
        mean, std = init_from.input_stats()  # the input the library's weights expect
    else:
        mean, std = channel_stats(data.train)
    options = Options(
        device=flags["device"],
        precision=flags["precision"],
        compile=flags["compile_"],
        channels_last=flags["channels_last"],
        seed=flags["seed"],
        workers=default_workers() if flags["workers"] is None else flags["workers"],
        replicas=flags["replicas"],
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
        freeze=freeze,
        num_classes=num_classes,
    )


def show_recipe(spec: str, flags: Mapping[str, Any]) -> None:
    """The recipe a run of SPEC with these flags would train with, one key per line."""
    recipe = recipes.from_flags(compile_spec(spec).spec.training, flags)
    for key, value in recipes.flat(recipe.model_dump(mode="json")).items():
        click.echo(f"{key:<22} {value}")


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
