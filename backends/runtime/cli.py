"""`incept train`, `incept eval` and `incept predict`.

Imported by the `incept` command at start-up, so this module imports only click:
torch, numpy and the data readers load inside the commands, after the flags parse.
Every bad input (spec, data, checkpoint, image, flag) ends as one line and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from incept.compiler.command_errors import one_line_errors
from incept.compiler.options import complete_spec


def _recipe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Flags that override the spec's `training:` section (unset: the spec's value)."""
    spec = " [default: the spec's training: section]"
    options = [
        click.option("--epochs", type=int, help="Epochs to train." + spec),
        click.option("--batch-size", type=int, help="Images per step (per process)." + spec),
        click.option(
            "--optimizer",
            type=click.Choice(["sgd", "adamw", "rmsprop"]),
            help="Optimizer (rmsprop: TensorFlow's, as Inception-v3 and v4 trained)." + spec,
        ),
        click.option("--lr", type=float, help="Peak learning rate." + spec),
        click.option("--momentum", type=float, help="SGD or RMSProp momentum." + spec),
        click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum." + spec),
        click.option("--rms-decay", type=float, help="RMSProp's mean-square decay." + spec),
        click.option("--rms-eps", type=float, help="RMSProp's epsilon (inside the root)." + spec),
        click.option(
            "--clip-grad-norm",
            type=float,
            metavar="NORM",
            help="Clip the gradients' global L2 norm to NORM; 0: off." + spec,
        ),
        click.option("--weight-decay", type=float, help="Weight decay (weights only)." + spec),
        click.option("--label-smoothing", type=float, help="Label smoothing." + spec),
        click.option(
            "--schedule",
            type=click.Choice(["paper", "cosine", "onecycle", "constant"]),
            help="Learning-rate schedule." + spec,
        ),
        click.option("--warmup-epochs", type=float, help="Linear warm-up epochs." + spec),
        click.option("--aux/--no-aux", default=None, help="Train the aux heads." + spec),
        click.option("--crop-padding", type=int, help="Random-crop padding in pixels." + spec),
        click.option("--flip/--no-flip", default=None, help="Random horizontal flips." + spec),
        click.option("--erasing", type=float, help="Random-erasing probability." + spec),
        click.option(
            "--scale",
            type=float,
            nargs=2,
            metavar="LOW HIGH",
            help="Scale crop: a random box of LOW to HIGH of the image's area, resized "
            "to the input (the paper's 0.08 1)." + spec,
        ),
        click.option(
            "--ratio",
            type=float,
            nargs=2,
            metavar="LOW HIGH",
            help="The scale crop's aspect range (width / height)." + spec,
        ),
        click.option(
            "--ema",
            type=float,
            metavar="DECAY",
            help="Average the weights (Polyak averaging) with this decay per step, e.g. "
            "0.999; the test metrics, best checkpoint, eval and export use the average; 0: "
            "off." + spec,
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _format_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--format text|json (and the old --json, hidden, for one release)."""
    command = click.option("--json", "as_json", is_flag=True, hidden=True)(command)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Print a table, or JSON.",
    )(command)


def _format(flags: dict[str, Any]) -> str:
    return "json" if flags.pop("as_json", False) else str(flags.pop("output_format"))


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option(
    "--data",
    "source",
    help="fashion-mnist | cifar10:DIR | imagefolder:DIR (required unless --show-recipe)",
)
@click.option("--data-dir", help="Folder of the Fashion-MNIST IDX files [$INCEPT_DATA].")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Run folder [default: runs/<spec name>].",
)
@click.option("--out", "run_dir_alias", type=click.Path(file_okay=False), hidden=True)
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from where it stopped.")
@click.option(
    "--show-recipe",
    is_flag=True,
    help="Print the recipe SPEC's training: section gives with these flags, and exit.",
)
@click.option(
    "--init-from",
    metavar="SOURCE",
    help="Start a new run from these weights: a run folder or checkpoint (the same "
    "architecture, or another num_classes), a library's pretrained weights for the spec "
    "(torchvision, timm, keras; the run then normalises its input as they expect) or a "
    "weights file (.pt/.pth state_dict, .keras, .h5). Classifiers of another class count "
    "start fresh.",
)
@click.option(
    "--freeze",
    metavar="ROWS",
    help="Keep these rows' weights fixed: a comma list of the spec's row names, or all-but-head.",
)
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    help="Classes of the model [default: the spec's num_classes]: fine-tune a spec to a "
    "data set of another class count without writing one that extends it. The run records "
    "it; eval, predict, export and convert read it from there.",
)
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
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="torch memory format [default: on; measured faster on CPU and GPU].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Image-folder loader processes [default: 4, or one per usable CPU if fewer].",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="keras: data-parallel replicas (GPUs, or logical CPU devices); torch: use torchrun.",
)
@click.option("--limit-train", type=int, help="Use only the first N training images.")
@click.option("--limit-test", type=int, help="Use only the first N test images.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@one_line_errors
def train(spec: str, **flags: Any) -> None:
    """Train SPEC on a data set; write metrics, checkpoints and pictures to the run folder.

    SIGTERM or SIGINT (Ctrl-C) finishes the current step, saves the run's place and
    exits with 128 + the signal number; --resume continues exactly there. A loss or
    weights that turn NaN or infinite stop the run with exit status 4, and no checkpoint
    is ever overwritten with them. Exit status 2: bad input or a file that could not be
    written (the previous one is intact).
    """
    from .frameworks import require

    if flags.pop("show_recipe"):
        from .train import show_recipe

        show_recipe(spec, flags)
        return
    if not flags["source"]:
        raise click.UsageError("Missing option '--data' (or --show-recipe).")
    require(flags["backend"], spec)  # a missing extra is one line, before anything loads
    from .train import train_command

    flags["run_dir"] = flags["run_dir"] or flags.pop("run_dir_alias")
    flags.pop("run_dir_alias", None)
    train_command(spec, flags)


_SPEC_HELP = (
    "The spec the checkpoint was trained from [default: as recorded]; required for a "
    "library source or weights file: the spec (name or path) its weights are for."
)


_CROP_PCT_HELP = (
    "Read each image file as its centre crop: the shorter side resized to the input's / P, "
    "then the input's size cut from the centre, as torchvision and timm evaluate their "
    "weights [default: the library's fraction for its weights (0.875 for googlenet and "
    "inception_v4), else the whole image, squeezed]."
)
#: data.INTERPOLATIONS, spelled out: importing the data package would put numpy on every
#: command's start-up path (tests/test_data.py checks that the two agree).
INTERPOLATIONS = ("bilinear", "bicubic")
_INTERPOLATION_HELP = (
    "Pillow's filter for resizing image files [default: the library's for its weights "
    "(timm's bicubic), else bilinear]."
)


def _resize_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--crop-pct and --interpolation: how eval and predict resize image files."""
    command = click.option(
        "--interpolation", type=click.Choice(INTERPOLATIONS), help=_INTERPOLATION_HELP
    )(command)
    return click.option(
        "--crop-pct",
        type=click.FloatRange(0, 1, min_open=True),
        metavar="P",
        help=_CROP_PCT_HELP,
    )(command)


@click.command(name="eval")
@click.argument("target")
@click.option("--crops", type=click.Choice(["1", "10", "144"]), default="1", show_default=True)
@_resize_options
@click.option("--spec", help=_SPEC_HELP)
@click.option(
    "--data",
    "source",
    help="Data set [default: the one it was trained on; required for a library source "
    "or weights file, with the spec's classes in the order of its classifier].",
)
@click.option("--data-dir", help="Folder of the Fashion-MNIST IDX files [$INCEPT_DATA].")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--limit-test", type=int, help="Use only the first N test images.")
@_format_options
@one_line_errors
def evaluate(target: str, **flags: Any) -> None:
    """Evaluate TARGET on the test split: a run folder (its last checkpoint), a
    checkpoint, a library's pretrained weights (torchvision, timm, keras) or a weights
    file (.pt/.pth, .keras, .h5), the last two with --spec and --data."""
    import json

    from .frameworks import require

    require("train", target)
    from .evaluation import evaluate, print_summary

    summary = evaluate(target, flags)
    if _format(flags) == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary)


@click.command()
@click.argument("target")
@click.argument("images", nargs=-1, required=True)
@click.option("--spec", help=_SPEC_HELP)
@click.option("--top", type=int, default=5, show_default=True)
@_resize_options
@click.option("--device", default="auto", show_default=True)
@_format_options
@one_line_errors
def predict(target: str, images: tuple[str, ...], **flags: Any) -> None:
    """Print the top classes of each image (PNG, JPEG, ...; a folder: every image under
    it) by TARGET: a run folder (its best checkpoint), a checkpoint, a library's
    pretrained weights (torchvision, timm, keras: ImageNet's class names) or a weights
    file, the last two with --spec."""
    import json
    from pathlib import Path

    from .frameworks import require

    require("train", target)
    from .evaluation import predict

    results = predict(target, [Path(i) for i in images], flags)
    if _format(flags) == "json":
        click.echo(json.dumps(results, indent=2))
        return
    for item in results:
        ranked = "  ".join(f"{p['class']} {p['probability']:.3f}" for p in item["top"])
        click.echo(f"{item['image']}: {ranked}")


@click.command()
@click.argument("checkpoint")
@click.option("--to", "target", type=click.Choice(["torch", "keras"]), required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="The new checkpoint (.pt, .keras)."
)
@click.option("--out", "output_alias", type=click.Path(dir_okay=False), hidden=True)
@click.option("--spec", help="The spec the checkpoint was trained from [default: as recorded].")
@one_line_errors
def convert(checkpoint: str, **flags: Any) -> None:
    """Copy a trained checkpoint's weights into the other framework's checkpoint format.

    The weights go through the IR's weight transfer (incept.backends.transfer); the new
    checkpoint keeps the run's identity (spec, recipe, data), so `incept eval` and
    `incept predict` read it like the original. It has no optimizer state: it is for
    evaluation, prediction and fine-tuning, not for --resume.
    """
    from .frameworks import require

    output = flags["output"] or flags["output_alias"]
    if not output:
        raise click.UsageError("Missing option '-o' / '--output'.")
    for framework in ("torch", "keras"):  # a conversion reads one and writes the other
        require(framework, checkpoint)
    from .convert import convert_checkpoint

    out = convert_checkpoint(checkpoint, flags["target"], output, flags["spec"])
    click.echo(f"wrote {out}")


from .export.cli import export  # noqa: E402  (imports only click)

COMMANDS = (train, evaluate, predict, convert, export)
