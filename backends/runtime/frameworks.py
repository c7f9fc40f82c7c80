"""Which framework runs a job, loaded in the one order that works, as an adapter.

The runtime's shared code (driver, checkpoints, evaluation, export) never imports
torch or keras itself: it asks `adapter(name)` for the framework's `Adapter`
(incept.runtime.torch.adapter or incept.runtime.keras.adapter). Adapters import only
the runtime's leaf modules (errors, data, job, metrics, ...), never this module or a
module that imports it, so the runtime has no import loop, not even through
`import_module`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Code, InputError

if TYPE_CHECKING:
    from .adapter import Adapter

FRAMEWORKS = ("torch", "keras")
#: The checkpoint file each framework writes.
SUFFIX = {"torch": ".pt", "keras": ".keras"}
#: What each framework needs installed, and the extra that installs it.
_NEEDS = {
    "torch": (("torch", "torch"), ("numpy", "train"), ("PIL", "train"), ("matplotlib", "train")),
    "keras": (("keras", "keras"), ("tensorflow", "keras"), ("numpy", "train"), ("PIL", "train")),
    "onnx": (("torch", "torch"), ("onnx", "export"), ("onnxruntime", "export")),
    "train": (("numpy", "train"), ("PIL", "train"), ("matplotlib", "train")),
}


def require(framework: str, where: str) -> None:
    """InputError naming the extra to install unless `framework` (or "onnx") can run."""
    for module, extra in _NEEDS[framework]:
        if find_spec(module) is None:
            extras = extra if extra in ("export", "train") else f"{extra},train"
            raise InputError(
                Code.MISSING,
                where,
                f"needs {module}, which is not installed: pip install 'incept[{extras}]'",
            )


def load_frameworks(keras: bool) -> None:
    """The framework's libraries, in an order that cannot crash: triton (torch's kernel
    compiler, which torch._dynamo, torch.export and torchvision load) segfaults the
    process when it loads after TensorFlow, so it comes first wherever it is installed.
    Importing triton alone takes 0.2 s where torch and torch._dynamo took 3.9 s, so a
    Keras job no longer loads torch it does not use; a torch job loads torch. With
    `keras`, Keras is pointed at TensorFlow, and TensorFlow's start-up lines (oneDNN,
    CPU features) are silenced unless `incept --verbose` asked for them."""
    before_tensorflow()
    if not keras:
        if find_spec("torch") is not None:
            import torch  # noqa: F401
        return
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not os.environ.get("INCEPT_VERBOSE"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO lines off, warnings on
        with _quiet_stderr():  # what TensorFlow prints before its log level is read
            import tensorflow  # noqa: F401


def before_tensorflow() -> None:
    """triton, where installed, unless TensorFlow is already loaded (then it is too late:
    whoever loaded TensorFlow chose the order)."""
    if "tensorflow" not in sys.modules and find_spec("triton") is not None:
        import triton  # noqa: F401


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null (C++ writes there directly, not via sys.stderr);
    a Python exception still propagates and is reported as usual."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def adapter(framework: str, where: str = "incept") -> Adapter:
    """The framework's adapter, its libraries loaded (or a one-line missing-extra error)."""
    if framework not in FRAMEWORKS:
        raise InputError(Code.FLAG, "--backend", f"unknown framework {framework!r}")
    require(framework, where)
    load_frameworks(keras=framework == "keras")
    module = import_module(f"incept.runtime.{framework}.adapter")
    found: Adapter = module.ADAPTER
    return found


def framework_of(path: Path) -> str:
    """Which framework wrote a checkpoint file (by its suffix: .keras, else torch)."""
    return "keras" if path.suffix == ".keras" else "torch"
