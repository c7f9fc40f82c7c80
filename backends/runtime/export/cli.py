"""`incept export SPEC|CKPT --onnx FILE --saved-model DIR` (this module imports only click)."""

from __future__ import annotations

from pathlib import Path

import click

from incept.compiler.command_errors import one_line_errors


def _check_folder(flag: str, out: str | None) -> None:
    """The output's folder exists or can be made: checked before minutes of exporting."""
    from ..errors import Code, InputError

    if out is None:
        return
    try:
        Path(out).resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(Code.FLAG, flag, f"cannot write {out}: {exc.strerror or exc}") from None


@click.command()
@click.argument("target")
@click.option("--onnx", "onnx_path", help="Write the torch model as ONNX to FILE.onnx.")
@click.option("--saved-model", help="Write the Keras model as a TF SavedModel to a new DIR.")
@click.option("--spec", help="The spec the checkpoint was trained from [default: as recorded].")
@click.option(
    "--opt",
    "optimize",
    metavar="NAMES",
    help="Compile the ONNX model with these optimizations (comma-separated, or all): "
    "fuse_siblings, fold_bn. The weights load through their mapping. [default: none]",
)
@one_line_errors
def export(
    target: str,
    onnx_path: str | None,
    saved_model: str | None,
    spec: str | None,
    optimize: str | None,
) -> None:
    """Export SPEC (fresh weights) or a trained run folder / checkpoint for serving.

    The model is exported in inference form (eval mode, aux heads off) and checked
    before it is put in place: ONNX with onnx.checker and onnxruntime against torch,
    the SavedModel by reloading it with TensorFlow and comparing with Keras.
    """
    from ..errors import Code, InputError

    if not onnx_path and not saved_model:
        raise InputError(
            Code.FLAG, "incept export", "give --onnx FILE.onnx, --saved-model DIR or both"
        )
    if onnx_path and Path(onnx_path).suffix.lower() != ".onnx":
        raise InputError(Code.FLAG, "--onnx", f"the file must end in .onnx, got {onnx_path}")
    if saved_model and Path(saved_model).exists():
        raise InputError(Code.FLAG, "--saved-model", f"{saved_model} exists; choose another folder")
    for flag, out in (("--onnx", onnx_path), ("--saved-model", saved_model)):
        _check_folder(flag, out)
    names = _optimizations(optimize, onnx_path)
    from .run import run_export

    for line in run_export(target, spec, onnx_path, saved_model, names):
        click.echo(line)


def _optimizations(value: str | None, onnx_path: str | None) -> tuple[str, ...]:
    """--opt as pass names in pipeline order; it shapes the ONNX export only (torch's
    emit options such as separable_maxpool are not passes: ONNX runtimes pool with their
    own kernels)."""
    from incept.compiler.passes import optimizations, parse_optimizations

    from ..errors import Code, InputError

    try:
        chosen = optimizations(parse_optimizations(value))
    except ValueError as exc:
        raise InputError(Code.FLAG, "--opt", str(exc)) from None
    if chosen and not onnx_path:
        raise InputError(Code.FLAG, "--opt", "applies to the ONNX export: give --onnx FILE.onnx")
    return tuple(p.name for p in chosen)
