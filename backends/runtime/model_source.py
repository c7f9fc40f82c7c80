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


def import_source(source: str, path: Path) -> ModuleType:
    """Write `source` to `path` (unless it is there already) and import it from there.

    Modules are cached by the source's hash: the same source imports once per process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        path.write_text(source, encoding="utf-8")
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"incept_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
