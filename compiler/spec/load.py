"""Validate loaded YAML against the schema; map pydantic errors to located SpecErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Code, SpecError
from .inherit import resolve
from .schema import PRIMITIVES, Name, Ref, Spec
from .source import DataPath, Source, read_source

_CODES = {
    "extra_forbidden": Code.UNKNOWN_KEY,
    "missing": Code.MISSING_KEY,
    "missing_op": Code.MISSING_KEY,
    "nfkc": Code.NFKC,
}
_VALUE_TYPES = (
    "literal_error",
    "greater_than",
    "less_than",
    "string_pattern",
    "too_short",
    "value_error",
    "too_long",
    "string_too_long",  # a description or doc beyond limits.MAX_TEXT
    "union_tag_invalid",
)


def _pattern(annotated: Any) -> str:
    return next(m.pattern for m in annotated.__metadata__[0].metadata if hasattr(m, "pattern"))


#: Plain words for the schema's string patterns.
_PATTERNS = {
    _pattern(Ref): "a positive integer or a $reference like $ch1x1",
    _pattern(Name): "a name made of letters, digits and _",
}


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


def _message(err: dict[str, Any], path: DataPath, data: Any) -> str:
    kind, where = err["type"], ".".join(str(p) for p in path) or "spec"
    field = str(path[-1]) if path else "spec"
    for part in path[:-1]:
        data = data[part]
    if len(path) > 1 and isinstance(data, list):  # an item of a pair or list: kernel[1]
        field = f"{path[-2]}[{path[-1]}]"
    if kind == "extra_forbidden":
        return f"unknown key {field!r} in {'.'.join(str(p) for p in path[:-1]) or 'spec'}"
    if kind == "missing":
        return f"missing key {str(err['loc'][-1])!r} in {where}"
    if kind in ("missing_op", "nfkc"):
        return err["msg"]
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    if msg.startswith("value error, "):
        msg = msg[len("value error, ") :]
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        msg = "expected " + _PATTERNS.get(pattern, f"a string matching {pattern}")
    got = _short(repr(err["input"]))
    # Our own validators already quote the value.
    if kind == "value_error" and got in msg:
        return f"{field}: {msg}"
    return f"{field}: {msg} (got {got})"


def _short(text: str, limit: int = 60) -> str:
    """A received value as echoed in a message: a 1,001-row list is not printed whole."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _relevant(errors: list[Any], data: Any) -> list[Any]:
    """Keep the union alternative that fits the value's type.

    For `kernel: [1, 2, 3]` pydantic reports both "not a valid integer" (the int
    alternative) and "at most 2 items" (the pair alternative); only the second helps.
    A wrong-type error is dropped when another error on the same field is not one.
    """
    fields = [_data_path(data, e["loc"]) for e in errors]
    keep = []
    for err, path in zip(errors, fields, strict=True):
        if err["type"].endswith("_type") and any(
            other[: len(path)] == path and not o["type"].endswith("_type")
            for o, other in zip(errors, fields, strict=True)
        ):
            continue
        keep.append(err)
    return keep


def _layer_shape(err: dict[str, Any], data: Any, path: DataPath) -> tuple[Code, str, DataPath]:
    """Say why a layer has no usable `op:`: not a mapping, no `op:`, a bad `op:` value,
    or (inside a template, where blocks do not nest) an op that is not a layer."""
    for part in path:
        data = data[part]
    if not isinstance(data, dict):
        return Code.TYPE, f"a layer is a mapping with `op:`, got {data!r}", path
    if "op" not in data:
        return Code.MISSING_KEY, err["msg"], path
    op = data["op"]
    if not isinstance(op, str):
        return Code.TYPE, f"op: expected a layer or block name, got {op!r}", (*path, "op")
    return (
        Code.UNKNOWN_OP,
        f"unknown op {op!r} in a block template: template layers are {', '.join(PRIMITIVES)}",
        (*path, "op"),
    )


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
        for err in _relevant(exc.errors(), source.data):
            path = _data_path(source.data, err["loc"])
            if err["type"] == "missing_op":
                code, message, path = _layer_shape(err, source.data, path)
                loc = source.loc(path)
                located.append((loc.line, loc.col, SpecError(code, message, loc)))
                continue
            if err["type"] == "missing":
                loc = source.loc(path)
            elif err["type"] == "extra_forbidden" or err["loc"][-1:] == ("[key]",):
                loc = source.key_loc(path)
            else:
                loc = source.loc(path)
            located.append(
                (
                    loc.line,
                    loc.col,
                    SpecError(_code(err["type"]), _message(err, path, source.data), loc),
                )
            )
        # One line per spec: the first problem in file order.
        raise min(located, key=lambda t: (t[0], t[1]))[2] from None


def load_spec(path: str | Path) -> tuple[Spec, Source]:
    source = resolve(read_source(path))
    return validate(source), source
