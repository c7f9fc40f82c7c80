"""Validate loaded YAML against the schema; map pydantic errors to located SpecErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Code, SpecError
from .schema import Spec
from .source import DataPath, Source, read_source

_CODES = {
    "extra_forbidden": Code.UNKNOWN_KEY,
    "missing": Code.MISSING_KEY,
    "missing_op": Code.MISSING_KEY,
}
_VALUE_TYPES = (
    "literal_error",
    "greater_than",
    "less_than",
    "string_pattern",
    "too_short",
    "value_error",
    "too_long",
    "union_tag_invalid",
)


def _data_path(data: Any, loc: tuple[Any, ...]) -> DataPath:
    """Drop pydantic's union tags from an error location, keeping real keys and indices."""
    path: list[str | int] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            continue
        path.append(part)
    return tuple(path)


def _message(err: dict[str, Any], path: DataPath) -> str:
    kind, where = err["type"], ".".join(str(p) for p in path) or "spec"
    field = str(path[-1]) if path else "spec"
    if kind == "extra_forbidden":
        return f"unknown key {field!r} in {'.'.join(str(p) for p in path[:-1]) or 'spec'}"
    if kind == "missing":
        return f"missing key {str(err['loc'][-1])!r} in {where}"
    if kind == "missing_op":
        return err["msg"]
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    if msg.startswith("value error, "):
        msg = msg[len("value error, ") :]
    return f"{field}: {msg} (got {err['input']!r})"


def _code(kind: str) -> Code:
    if kind in _CODES:
        return _CODES[kind]
    if any(kind.startswith(v) for v in _VALUE_TYPES):
        return Code.VALUE
    return Code.TYPE


def validate(source: Source) -> Spec:
    if not isinstance(source.data, dict):
        raise SpecError(
            Code.TYPE, "a spec is a YAML mapping (name:, input:, layers:, ...)", source.loc(())
        )
    try:
        return Spec.model_validate(source.data)
    except ValidationError as exc:
        located = []
        for err in exc.errors():
            path = _data_path(source.data, err["loc"])
            if err["type"] == "missing":
                loc = source.loc(path)
            elif err["type"] == "extra_forbidden":
                loc = source.key_loc(path)
            else:
                loc = source.loc(path)
            located.append(
                (loc.line, loc.col, SpecError(_code(err["type"]), _message(err, path), loc))
            )
        # One line per spec: the first problem in file order.
        raise min(located, key=lambda t: (t[0], t[1]))[2] from None


def load_spec(path: str | Path) -> tuple[Spec, Source]:
    source = read_source(path)
    return validate(source), source
