"""The generated torch module as ONNX, checked before it is put in place.

torch.onnx's exporter (torch.export based) writes one self-contained file at opset
`OPSET`, batch size dynamic, input `images` (N, C, H, W float32), output `logits`
(N, classes); the model is in eval mode with its aux heads off. The file is written
beside the target under a temporary name, checked with onnx.checker (full check) and
run by onnxruntime on a random batch whose logits must match torch's within
`RTOL` (max |difference| / max |torch logit|); only then is it renamed into place.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from incept.compiler.files import staged

from ..errors import Code, InputError

OPSET = 18
RTOL = 1e-4
CHECK_BATCH = 2
#: The logger that warns, at every export where torchvision is not installed, that it
#: skips torchvision's detection operators (nms, roi_align, ...), which no incept model has.
REGISTRY_LOGGER = "torch.onnx._internal.exporter._registration"


def relative_error(got: Any, want: Any) -> float:
    import numpy as np

    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got - want).max()) / scale


def _export(model: Any, example: Any, path: Path) -> None:
    import torch

    batch = torch.export.Dim("N", min=1, max=4096)
    with _quiet_registry(), contextlib.redirect_stdout(io.StringIO()):  # it narrates its steps
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes=({0: batch},),
            verbose=False,
        )


@contextlib.contextmanager
def _quiet_registry() -> Iterator[None]:
    """REGISTRY_LOGGER at ERROR for the export, unless `incept --verbose`."""
    logger = logging.getLogger(REGISTRY_LOGGER)
    level = logger.level
    if not os.environ.get("INCEPT_VERBOSE"):
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check(path: Path, model: Any, shape: tuple[int, ...], batch: int = CHECK_BATCH) -> float:
    """onnx.checker, then onnxruntime against torch; returns the relative error."""
    import onnx
    import onnxruntime as ort
    import torch

    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(1))
    (got,) = session.run(["logits"], {"images": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    if got.shape != want.shape:
        raise RuntimeError(f"ONNX logits have shape {got.shape}, torch's {want.shape}")
    return relative_error(got, want)


def export_onnx(model: Any, shape: tuple[int, ...], out: Path) -> float:
    """Export, check and rename into `out`; returns the checked relative error."""
    import torch

    with staged(out) as tmp:
        example = torch.zeros(CHECK_BATCH, *shape)
        _export(model, example, tmp)
        error = check(tmp, model, shape)
        if not error <= RTOL:
            raise InputError(
                Code.PREFLIGHT,
                out,
                f"onnxruntime's logits differ from torch's by {error:.2e} (relative; limit {RTOL:g})",
            )
    return error
