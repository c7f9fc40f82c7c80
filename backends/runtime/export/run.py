"""`incept export` after the flags parse: open the target, build, export, check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .. import frameworks
from .source import open_target


def run_export(
    target: str,
    spec: str | None,
    onnx_path: str | None,
    saved_model: str | None,
    optimize: tuple[str, ...] = (),
) -> Iterator[str]:
    """Export to each requested format; yield one line per file written. `optimize`:
    the passes the ONNX (torch) model is compiled with."""
    if onnx_path:
        frameworks.require("onnx", "--onnx")
    if saved_model:
        frameworks.require("keras", "--saved-model")
    t = open_target(target, spec, optimize)
    shape = tuple(int(d) for d in t.compiled.graph.input.shape or ())
    if onnx_path:
        from .onnx import OPSET, export_onnx

        error = export_onnx(t.torch_model, shape, Path(onnx_path))
        opts = f"--opt {','.join(optimize)}; " if optimize else ""
        yield (
            f"wrote {onnx_path} (opset {OPSET}, input images N x {' x '.join(map(str, shape))}; "
            f"{opts}onnxruntime vs torch: {error:.1e} relative)"
        )
    if saved_model:
        from .saved_model import export_saved_model

        error = export_saved_model(t.keras_model, Path(saved_model))
        c, h, w = shape
        yield (
            f"wrote {saved_model} (SavedModel, endpoint serve, input N x {h} x {w} x {c}; "
            f"reloaded vs Keras: {error:.1e} relative)"
        )
