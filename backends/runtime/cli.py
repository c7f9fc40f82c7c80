"""`incept train`, `incept eval` and `incept predict`.

Imported by the `incept` command at start-up, so this module imports only click:
torch, numpy and the data readers load inside the commands, after the flags parse.
Every bad input (spec, data, checkpoint, image, flag) ends as one line and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from incept.compiler.guard import one_line_errors

RECIPE_FLAGS = {
    # flag name -> recipe key
    "optimizer": "optimizer",
    "lr": "lr",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "weight_decay": "weight_decay",
    "label_smoothing": "label_smoothing",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "schedule": "schedule",
    "warmup_epochs": "warmup_epochs",
    "aux": "aux",
    "crop_padding": "augment.crop_padding",
    "flip": "augment.flip",
    "erasing": "augment.erasing",
}


def _recipe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Flags that override the spec's `training:` section (unset: the spec's value)."""
    options = [
        click.option("--epochs", type=int, help="Epochs to train."),
        click.option("--batch-size", type=int, help="Images per step (per process)."),
        click.option("--optimizer", type=click.Choice(["sgd", "adamw"])),
        click.option("--lr", type=float, help="Peak learning rate."),
        click.option("--momentum", type=float),
        click.option("--nesterov/--no-nesterov", default=None),
        click.option("--weight-decay", type=float),
        click.option("--label-smoothing", type=float),
        click.option("--schedule", type=click.Choice(["paper", "cosine", "onecycle", "constant"])),
        click.option("--warmup-epochs", type=float),
        click.option("--aux/--no-aux", default=None, help="Train the aux heads."),
        click.option("--crop-padding", type=int, help="Random-crop padding in pixels."),
        click.option("--flip/--no-flip", default=None, help="Random horizontal flips."),
        click.option("--erasing", type=float, help="Random-erasing probability."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@click.argument("spec")
@click.option(
    "--data", "source", required=True, help="fashion-mnist | cifar10:DIR | imagefolder:DIR"
)
@click.option("--data-dir", help="Folder of the Fashion-MNIST IDX files [$INCEPT_DATA].")
@click.option("--out", help="Run folder [default: runs/<spec name>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last epoch.")
@click.option(
    "--backend",
    type=click.Choice(["torch", "keras"]),
    default="torch",
    show_default=True,
    help="torch, or keras (Keras 3 on TensorFlow: tf.data, model.fit, .keras checkpoints).",
)
@_recipe_options
@click.option(
    "--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N (keras: gpu)"
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "bf16", "fp16", "fp32"]),
    default="auto",
    show_default=True,
    help="Autocast dtype / Keras mixed policy (auto: bf16 on a GPU, fp32 on CPU).",
)
@click.option(
    "--compile/--no-compile", "compile_", default=None, help="torch.compile / XLA [GPU: on]."
)
@click.option("--channels-last/--no-channels-last", default=None, help="[CUDA: on]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=4, show_default=True, help="Image-folder loaders.")
@click.option("--limit-train", type=int, help="Use only the first N training images.")
@click.option("--limit-test", type=int, help="Use only the first N test images.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@one_line_errors
def train(spec: str, **flags: Any) -> None:
    """Train SPEC on a data set; write metrics, checkpoints and pictures to the run folder."""
    from .commands import train_command

    train_command(spec, flags, {k: flags.pop(k) for k in RECIPE_FLAGS})


@click.command(name="eval")
@click.argument("target")
@click.option("--crops", type=click.Choice(["1", "10", "144"]), default="1", show_default=True)
@click.option("--spec", help="The spec the checkpoint was trained from [default: as recorded].")
@click.option("--data", "source", help="Data set [default: the one it was trained on].")
@click.option("--data-dir", help="Folder of the Fashion-MNIST IDX files [$INCEPT_DATA].")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--limit-test", type=int, help="Use only the first N test images.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@one_line_errors
def evaluate(target: str, **flags: Any) -> None:
    """Evaluate a run folder (its last checkpoint) or a checkpoint on the test split."""
    from .commands import eval_command

    eval_command(target, flags)


@click.command()
@click.argument("checkpoint")
@click.argument("images", nargs=-1, required=True)
@click.option("--spec", help="The spec the checkpoint was trained from [default: as recorded].")
@click.option("--top", type=int, default=5, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
@one_line_errors
def predict(checkpoint: str, images: tuple[str, ...], **flags: Any) -> None:
    """Print the top classes with probabilities for each image (PNG, JPEG, ...)."""
    from .commands import predict_command

    predict_command(checkpoint, images, flags)


@click.command()
@click.argument("checkpoint")
@click.option("--to", "target", type=click.Choice(["torch", "keras"]), required=True)
@click.option("-o", "--out", required=True, help="The new checkpoint (.pt for torch, .keras).")
@click.option("--spec", help="The spec the checkpoint was trained from [default: as recorded].")
@one_line_errors
def convert(checkpoint: str, **flags: Any) -> None:
    """Copy a trained checkpoint's weights into the other framework's checkpoint format.

    The weights go through the IR's weight transfer (incept.backends.transfer); the new
    checkpoint keeps the run's identity (spec, recipe, data), so `incept eval` and
    `incept predict` read it like the original. It has no optimizer state: it is for
    evaluation, prediction and fine-tuning, not for --resume.
    """
    from .convert import convert_checkpoint

    out = convert_checkpoint(checkpoint, flags["target"], flags["out"], flags["spec"])
    click.echo(f"wrote {out}")


from .export.cli import export  # noqa: E402  (imports only click)

COMMANDS = (train, evaluate, predict, convert, export)
