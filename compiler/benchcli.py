"""`incept bench SPEC --vs torchvision|timm|keras-reference|keras-applications`: time the generated module beside
its reference in one process (the harness is incept.bench.bench, from bench/).

Imported by the `incept` command at start-up, so this module imports only click and
the compiler: torch, TensorFlow and Keras load inside bench/, after the flags and the
spec are checked. Bad flags and bad specs end as one line and exit status 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .command_errors import one_line_errors
from .options import STDIO, complete_spec, format_option, output_option

MODES = ("infer", "train", "latency")
PRECISIONS = ("fp32", "bf16")
FORMATS = ("contiguous", "channels_last")
COMPILE = ("off", "on")
#: Options that only the torch comparison has (Keras runs NHWC, fp32, as a tf.function).
TORCH_ONLY = ("precisions", "formats", "compile_", "compile_mode", "device", "profile")


def _subset(allowed: tuple[str, ...]) -> Callable[..., tuple[str, ...] | None]:
    """A click callback: a comma-separated subset of `allowed`, in `allowed`'s order."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        picked = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in picked if v not in allowed]
        if unknown or not picked:
            raise click.BadParameter(
                f"{value!r}: expected a comma-separated subset of {','.join(allowed)}"
            )
        return tuple(v for v in allowed if v in picked)

    return parse


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option(
    "--vs",
    type=click.Choice(["torchvision", "timm", "keras-reference", "keras-applications"]),
    required=True,
    help="torchvision (GoogLeNet, Inception-v3) or timm (the same network) for the torch "
    "module; keras-reference (a hand-written GoogLeNet) or keras-applications (the same "
    "network) for the Keras model.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    help="Images per step for infer/train [default: 256 on a GPU, 8 on the CPU].",
)
@click.option(
    "--modes", callback=_subset(MODES), help=f"Subset of {','.join(MODES)} [default: all]."
)
@click.option(
    "--precisions",
    callback=_subset(PRECISIONS),
    help="torch: fp32, bf16 (autocast) [default: both on a GPU, fp32 on the CPU].",
)
@click.option(
    "--formats",
    callback=_subset(FORMATS),
    help="torch memory formats: contiguous, channels_last [default: both].",
)
@click.option(
    "--compile",
    "compile_",
    callback=_subset(COMPILE),
    help="torch: eager (off) and/or torch.compile (on) [default: both on a GPU, off on the CPU].",
)
@click.option(
    "--compile-mode",
    type=click.Choice(["default", "reduce-overhead", "max-autotune"]),
    default="default",
    show_default=True,
    help="torch.compile's mode.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True)
@click.option(
    "--aux/--no-aux", default=True, show_default=True, help="Aux heads on in training steps."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--profile",
    is_flag=True,
    help="torch: also profile the generated module's last config of each mode and print "
    "the operators taking the most time (torch.profiler; kept in the JSON).",
)
@click.option(
    "--reference-profile",
    type=click.Choice(["caffe", "caffe-nolrn", "bn", "torchvision"]),
    help="keras-reference: the hand-written model's profile [default: the spec's].",
)
@click.option(
    "--opt",
    "optimize",
    metavar="NAMES",
    help="Optimizations of the generated module, comma-separated: fuse_siblings, fold_bn, "
    "all or none; torch also separable_maxpool. Training steps leave out the inference-only "
    "ones (fold_bn). [default: none]",
)
@format_option
@output_option("Write the --format json report to FILE instead of standard output.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), hidden=True)
@one_line_errors
def bench(spec: str, vs: str, **options: Any) -> None:
    """Time SPEC's generated module beside torchvision's GoogLeNet / Inception-v3, timm's
    or keras.applications' model of the same network, or the hand-written Keras
    GoogLeNet (bench/keras_reference.py): img/s and their ratio, median of repeats."""
    from .passes import optimize_graph
    from .pipeline import build_graph

    ctx = click.get_current_context()
    if vs != "keras-reference" and options["reference_profile"]:
        raise click.UsageError("--reference-profile applies to --vs keras-reference only", ctx)
    if vs.startswith("keras"):
        given = [
            name
            for name in TORCH_ONLY
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            flag = "--" + given[0].rstrip("_").replace("_", "-")
            raise click.UsageError(f"{flag} applies to --vs torchvision or timm only", ctx)
    _output(options)
    optimize, options["emit"] = _optimize(options.pop("optimize"), vs)
    graph = build_graph(spec)  # a bad spec fails here, before any framework loads
    options["graphs"] = {  # the spec read once, optimized twice
        "infer": optimize_graph(graph, [p.name for p in optimize]),
        "train": optimize_graph(graph, [p.name for p in optimize if not p.inference_only]),
    }
    from incept.runtime.frameworks import load_frameworks, require

    keras = vs.startswith("keras")
    require("keras" if keras else "torch", "incept bench")
    load_frameworks(keras)  # the order that works; TensorFlow's start-up lines silenced
    from ..bench import bench as harness  # here: it loads torch or Keras when it runs

    if options["json_path"] != STDIO:
        harness.run(spec, graph, vs, options)
        return
    options["json_path"] = None
    with contextlib.redirect_stdout(sys.stderr):  # progress and table; stdout is the JSON's
        report = harness.run(spec, graph, vs, options)
    click.echo(json.dumps(report, indent=2))


def _output(options: dict[str, Any]) -> None:
    """--format json [-o FILE] as the harness's json_path ("-": standard output, the table
    then on stderr); `--json FILE`, the old spelling, is `--format json -o FILE`."""
    fmt, output, old = options.pop("fmt"), options.pop("output"), options.pop("json_path")
    if old is not None:
        if output is not None:
            raise click.UsageError("--json FILE is -o FILE with --format json: give one")
        fmt, output = "json", old
    if fmt == "text" and output is not None:
        raise click.UsageError("-o FILE holds the --format json report: add --format json")
    options["json_path"] = (output or STDIO) if fmt == "json" else None


def _optimize(value: str | None, vs: str) -> tuple[list[Any], tuple[str, ...]]:
    """--opt as (passes in pipeline order, the torch backend's options); by default none.
    The Keras backend has no options."""
    from .passes import optimizations, parse_optimizations, pass_names

    known: tuple[str, ...] = ()
    if not vs.startswith("keras"):
        from incept.backends import torch as torch_backend

        known = torch_backend.OPTIONS
    try:
        names = parse_optimizations("none" if value is None else value, known)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--opt'") from None
    passes = pass_names(names)
    return optimizations(passes), tuple(n for n in names if n not in passes)
