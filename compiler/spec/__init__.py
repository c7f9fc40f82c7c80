"""The spec: YAML with positions (source), its schema (pydantic) and validation (load)."""

from .load import load_spec
from .schema import Spec

__all__ = ["Spec", "load_spec"]
