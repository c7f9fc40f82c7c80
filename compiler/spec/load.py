"""Validate loaded YAML against the schema; map pydantic errors to located SpecErrors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Code, SpecError
from . import catalog
from .inherit import resolve
from .messages import allowed_keys, constraint, describe, did_you_mean, expected
from .schema import PRIMITIVES, Name, Ref, Spec
from .source import DataPath, Source, mapping_source, read_source

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


def _message(err: dict[str, Any], path: DataPath, data: Any, kinds: list[str]) -> str:
    """One error in our words; `kinds`: every wrong-type error pydantic gave this value
    (a union lists one per alternative)."""
    kind = err["type"]
    field = str(path[-1]) if path else "spec"
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    if len(path) > 1 and isinstance(parent, list):  # an item of a pair or list: kernel[1]
        field = f"{path[-2]}[{path[-1]}]"
    if kind == "extra_forbidden":
        hint = did_you_mean(path[-1], allowed_keys(err["loc"][:-1]))
        return f"unknown key {field!r} in {describe(path[:-1], data)}{hint}"
    if kind == "missing":
        return f"missing key {str(err['loc'][-1])!r} in {describe(path, data)}"
    if kind in ("missing_op", "nfkc"):
        return str(err["msg"])  # our own PydanticCustomErrors
    got = f" (got {_short(repr(err['input']))})"
    if kind == "value_error":  # our own validators' ValueErrors, which quote the value
        msg = str(err["ctx"]["error"])
        return f"{field}: {msg}" if _short(repr(err["input"])) in msg else f"{field}: {msg}{got}"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        return f"{field}: expected {_PATTERNS.get(pattern, 'another form')}{got}"
    said = constraint(kind, err.get("ctx", {}), err["input"])
    if said is not None:
        return f"{field}: {said}" + ("" if kind.startswith(("too_", "string_too")) else got)
    if set(kinds) == {"int_type", "string_type"}:  # a channel count: Channels | Ref
        return f"{field}: expected {_PATTERNS[_pattern(Ref)]}{got}"
    return f"{field}: {expected(kinds)}{got}"


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


def _misspelt(errors: list[Any], data: Any) -> list[Any]:
    """Drop "missing key K" where the same mapping has an unknown key that is K misspelt:
    `kernal: 2` is reported as an unknown key with a suggestion, not as a missing kernel."""
    unknown = [
        (_data_path(data, e["loc"][:-1]), e["loc"][-1])
        for e in errors
        if e["type"] == "extra_forbidden"
    ]

    def misspelt(err: dict[str, Any]) -> bool:
        where, key = _data_path(data, err["loc"]), str(err["loc"][-1])
        return any(p == where and did_you_mean(k, [key]) for p, k in unknown)

    return [e for e in errors if not (e["type"] == "missing" and misspelt(e))]


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
        errors = _misspelt(_relevant(exc.errors(), source.data), source.data)
        for err in errors:
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
            kinds = [
                e["type"]
                for e in errors
                if e["type"].endswith("_type") or e["type"] == "none_required"
                if _data_path(source.data, e["loc"]) == path
            ] or [err["type"]]
            message = _message(err, path, source.data, kinds)
            located.append((loc.line, loc.col, SpecError(_code(err["type"]), message, loc)))
        # One line per spec: the first problem in file order.
        raise min(located, key=lambda t: (t[0], t[1]))[2] from None


#: What names a spec: a file path, a model name (catalog.py) or the spec as a mapping.
SpecInput = str | Path | Mapping[str, Any]


def read_spec(spec: SpecInput) -> Source:
    """The spec's source with `extends:` merged and `patch:` applied."""
    if isinstance(spec, Mapping):
        return resolve(mapping_source(spec))
    return resolve(read_source(catalog.locate(spec)))


def load_spec(spec: SpecInput) -> tuple[Spec, Source]:
    source = read_spec(spec)
    return validate(source), source
