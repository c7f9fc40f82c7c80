"""Words for validation errors: where (rows by name), what was expected, and what the
user may have meant. pydantic's own wording never reaches the user: every error type it
raises for the schema is phrased here, and an unknown type gets a plain fallback.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from typing import Annotated, Any, ForwardRef, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from . import schema
from .source import DataPath

#: Keys a spec may have besides the schema's: resolved away before validation.
INHERIT_KEYS = ("extends", "patch")


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` (did you mean 'stride'?)` for the closest choice, or nothing."""
    if not isinstance(word, str) or not word:
        return ""
    options = sorted(set(choices) - {word})
    # 0.7: `strid` -> `stride`, `bais` -> `bias`, but `layer_count` is not `paper_units`.
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.7)
    if not close and len(word) >= 3:  # a cut-off key: `pad` for `padding`
        close = [o for o in options if o.startswith(word)][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- where -----------------------------------------------------------------------------


def _row_name(row: Any, index: int) -> str:
    """The compiler's name for a row: its `name`, else `<op><index>` (ir/lower.py)."""
    if isinstance(row, dict):
        if isinstance(row.get("name"), str):
            return row["name"]
        if isinstance(row.get("op"), str):
            return f"{row['op']}{index}"
    return f"#{index + 1}"


def _layer_path(data: Any, path: DataPath) -> tuple[str, DataPath]:
    """A template layer's local name (`name`, else `<branch>_<index>`), following splits."""
    local, rest = "", path
    while len(rest) >= 2 and isinstance(rest[1], int) and isinstance(data, dict):
        branch, index = rest[0], rest[1]
        layers = data.get(branch) if isinstance(branch, str) else None
        layer = layers[index] if isinstance(layers, list) and index < len(layers) else None
        named = isinstance(layer, dict) and isinstance(layer.get("name"), str)
        local = layer["name"] if named else f"{branch}_{index}"  # type: ignore[index]
        rest = rest[2:]
        if rest[:1] != ("branches",) or not isinstance(layer, dict):
            break
        data, rest = layer.get("branches"), rest[1:]
    return local, rest


def describe(path: DataPath, data: Any) -> str:
    """A place in the spec in words: `row 'conv1'`, `paper of row 'conv1'`,
    `layer 'c3' of block 'mix'`, `defaults.conv`, `the spec`."""
    head, rest = "", path
    if len(path) >= 2 and path[0] in ("layers", "aux_heads") and isinstance(path[1], int):
        rows = data.get(path[0]) if isinstance(data, dict) else None
        row = rows[path[1]] if isinstance(rows, list) and path[1] < len(rows) else None
        kind = "row" if path[0] == "layers" else "aux head"
        head, rest = f"{kind} {_row_name(row, path[1])!r}", path[2:]
    elif len(path) >= 5 and path[0] == "blocks" and path[2] == "branches":
        block = data["blocks"][path[1]]
        local, rest = _layer_path(block["branches"], path[3:])
        head = f"layer {local!r} of block {path[1]!r}"
    if not head:
        return ".".join(map(str, path)) or "the spec"
    return f"{'.'.join(map(str, rest))} of {head}" if rest else head


# -- what was allowed ------------------------------------------------------------------


def _options(tp: Any, tag: str | None = None) -> list[tuple[Any, str | None]]:
    """A field type as its alternatives, each with its union tag: Annotated and unions
    are opened, forward references ("Split") looked up in the schema."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        found = next((m.tag for m in meta if isinstance(m, Tag)), tag)
        return _options(base, found)
    if origin in (Union, types.UnionType):
        return [o for arg in get_args(tp) for o in _options(arg, tag)]
    if isinstance(tp, ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        tp = getattr(schema, tp)
    return [(tp, tag)]


def _step(tp: Any, part: str | int) -> Any:
    for option, tag in _options(tp):
        if tag is not None and tag == part:
            return option
    for option, _ in _options(tp):
        if isinstance(option, type) and issubclass(option, BaseModel):
            for name, field in option.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        origin = get_origin(option)
        if origin is list and isinstance(part, int):
            return get_args(option)[0]
        if origin is dict and isinstance(part, str):
            return get_args(option)[1]
    return None


def allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the schema allows in the mapping at pydantic location `loc`."""
    tp: Any = schema.Spec
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    keys = [
        field.alias or name
        for option, _ in _options(tp)
        if isinstance(option, type) and issubclass(option, BaseModel)
        for name, field in option.model_fields.items()
    ]
    return [*keys, *INHERIT_KEYS] if not loc else keys


# -- what was expected -----------------------------------------------------------------

#: pydantic's wrong-type error types, as what was expected instead.
EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a pair [height, width]",
    "none_required": "null",
}


def expected(kinds: Iterable[str]) -> str:
    """`expected an integer or a pair [height, width]` for a set of wrong-type errors."""
    words = list(dict.fromkeys(EXPECTED.get(k, "another type") for k in kinds))
    if "a number" in words and "an integer" in words:
        words.remove("an integer")
    return "expected " + " or ".join(words)


def _items(n: int) -> str:
    return f"{n} item" + ("" if n == 1 else "s")


#: pydantic's bound errors: our wording and the context key that holds the bound.
_BOUNDS = {
    "greater_than": ("must be greater than", "gt"),
    "greater_than_equal": ("must be at least", "ge"),
    "less_than": ("must be less than", "lt"),
    "less_than_equal": ("must be at most", "le"),
}


def constraint(kind: str, ctx: dict[str, Any], value: Any) -> str | None:
    """A range, length or choice error in our words; None for a type we do not phrase."""
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"{words} {ctx[key]}"
    if kind == "literal_error":
        return f"expected {ctx['expected']}"
    if kind == "too_short":
        return f"needs at least {_items(ctx['min_length'])}, got {ctx['actual_length']}"
    if kind == "too_long":
        return f"takes at most {_items(ctx['max_length'])}, got {ctx['actual_length']}"
    if kind == "string_too_long":
        return f"at most {ctx['max_length']} characters, got {len(value):,}"
    return None
