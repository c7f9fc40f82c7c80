"""Import generated model source as a module, framework-free (both backends use it).

The source is written into the run folder (`model.py`) and imported from there, so
tracebacks, `inspect` and torch.compile see real source lines, and the run folder
holds exactly the code that was trained.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from incept.compiler.files import create_once


def import_source(source: str, path: Path) -> ModuleType:
    """Write `source` to `path` (unless it is there already) and import it from there.

    Modules are cached by the source's hash: the same source imports once per process.
    A file is never replaced: a loaded module's tracebacks, `inspect` and TorchScript
    read its lines from it. Where `path` holds other source (a shared temporary folder,
    another process's spec, a run evaluated with --spec), this source goes beside it as
    `model-<hash>.py`, and the run folder's model.py stays the code that was trained.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    create_once(path, source)
    if path.read_text(encoding="utf-8") != source:
        path = path.with_name(f"{path.stem}-{digest}{path.suffix}")
        create_once(path, source)
    name = f"incept_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
