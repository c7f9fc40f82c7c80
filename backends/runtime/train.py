"""`incept train` after the flags parse: resolve the job, drive it, report, and say
where everything is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from .frameworks import require


def train_command(spec: str, flags: Mapping[str, Any]) -> None:
    require(flags["backend"], spec)  # before reading data: a missing extra is one line
    from .driver import train
    from .evaluation import write_report
    from .job import make_job

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
                f" test accuracy {best['test_acc']:.4f})",
                f"metrics      {run.metrics}, {run.evaluation}, TensorBoard: {run.tensorboard}",
                f"pictures     {run.curves}, {run.confusion}, {run.predictions}",
                f"next         incept eval {run.path}  |  incept predict {run.path} IMAGE  |  "
                f"incept export {run.path} --onnx model.onnx",
            ]
        ),
        err=True,
    )


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
