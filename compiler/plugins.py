"""incept uses no pydantic plugins: tell pydantic so before it loads.

Looking for plugins scans every installed distribution's entry points, and merely
importing pydantic's plugin loader imports importlib.metadata (with email, csv and
zipfile): together a noticeable share of `incept compile`'s wall time.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from typing import Any

_LOADER = "pydantic.plugin._loader"
#: The values for which pydantic's own loader returns no plugins without looking.
_OFF = ("__all__", "1", "true")


def _no_plugins() -> Iterable[Any]:
    return ()


def disable() -> None:
    """Turn plugins off (unless the user's environment says otherwise) and, when they
    are off, stand in for pydantic's loader with one that returns none without
    importing importlib.metadata. pydantic imports only `get_plugins` from it, inside
    the function that builds each validator, so the stand-in must precede that."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in _OFF and _LOADER not in sys.modules:
        loader = types.ModuleType(_LOADER, "incept: pydantic plugins are turned off")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules[_LOADER] = loader
