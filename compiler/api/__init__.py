"""incept: a declarative architecture-spec compiler for the Inception family of CNNs.

    import incept
    incept.list_models()                                  # the shipped specs' names
    model = incept.create_model("googlenet", num_classes=10)   # torch nn.Module
    model = incept.create_model("inception-v3", backend="keras")  # keras.Model
    text = incept.compile("googlenet", backend="torch")   # the generated source
    incept.data_config("inception-v4", pretrained="timm")  # its mean, std, crop, filter

docs/library.md describes them. This file is the installed package's `incept/__init__.py`
(pyproject.toml maps `incept` to compiler/api/; docs/architecture.md says why). Importing
it loads only the standard library: the compiler, torch and keras load when used.
"""

from __future__ import annotations

from .models import compile, create_model, data_config, list_models  # noqa: A004

__all__ = ["__version__", "compile", "create_model", "data_config", "list_models"]


def __getattr__(name: str) -> str:
    # Looked up on demand: importlib.metadata costs tens of milliseconds at import.
    if name != "__version__":
        raise AttributeError(f"module 'incept' has no attribute {name!r}")
    return _version()


def _version() -> str:
    """The installed distribution's version; in a source tree that is not installed,
    pyproject.toml's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("incept")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0.0.0"
