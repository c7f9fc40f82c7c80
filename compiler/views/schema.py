"""The spec language as JSON Schema, generated from the pydantic models, for editors.

`incept schema` prints it; specs/incept.schema.json is the committed copy that every
shipped spec names in its `# yaml-language-server: $schema=...` modeline, so editors
validate and complete specs as they are typed. pydantic's output is adjusted where it
is not plain JSON Schema or not the whole language:

- bounds on int-or-float unions come out as pydantic's `gt`/`ge`/`lt`/`le`, which
  validators ignore: they become exclusiveMinimum/minimum/exclusiveMaximum/maximum;
- a block row's `op` is any name but a built-in layer (so exactly one row kind
  matches), its other keys are the template's arguments (positive integers);
- checks written as Python validators get their JSON Schema form where one exists:
  `output` reads HxWxC, template params do not repeat, blocks do not shadow layer ops;
- `extends:` and `patch:` (resolved before validation) are described, and a spec with
  `extends:` is checked by a copy of the schema with no required keys: its base
  supplies them.

What JSON Schema cannot say (a `$ref` naming an unknown parameter, shapes that do not
add up, identifiers that are Python keywords, NaN) is left to `incept check`.
"""

from __future__ import annotations

import json
from typing import Any

from ..limits import MAX_CHANNELS
from ..spec.schema import PRIMITIVES, Spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Where the committed copy lives (relative to the project root); README.md, `incept schema`.
COMMITTED = "specs/incept.schema.json"
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
#: A block argument: a channel count, a residual's scale, or its activation.
_BLOCK_ARG = {
    "anyOf": [
        {"type": "integer", "exclusiveMinimum": 0, "maximum": MAX_CHANNELS},
        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CHANNELS},
        {"enum": ["relu", "none"]},
    ]
}
_NOT_PRIMITIVE = {"not": {"enum": sorted(PRIMITIVES)}}
_ROW_NAME = {"type": "string", "description": "the name of a row in layers or aux_heads, or *"}
_PATCH = {
    "description": "An edit of the merged rows: {row: R, set|unset|replace|delete|rename: ...} "
    "or {before|after: R, insert: [rows]} (docs/spec-language.md).",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "row": _ROW_NAME,
        "before": _ROW_NAME,
        "after": _ROW_NAME,
        "set": {"type": "object"},
        "unset": {"type": "array", "items": {"type": "string"}},
        "replace": {"type": "object"},
        "delete": {"const": True},
        "rename": {"type": "string", "description": "the row's new name (aux taps follow)"},
        "insert": {"type": "array", "items": {"type": "object"}},
    },
    "oneOf": [
        {
            "required": ["row"],
            "oneOf": [{"required": [k]} for k in ("set", "unset", "replace", "delete", "rename")],
        },
        {"required": ["insert"], "oneOf": [{"required": ["before"]}, {"required": ["after"]}]},
    ],
}


def _bounds(node: Any) -> Any:
    """pydantic's gt/ge/lt/le on unions -> JSON Schema's keywords, everywhere."""
    if isinstance(node, list):
        return [_bounds(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        is_bound = key in _BOUNDS and isinstance(value, int | float) and "anyOf" in node
        out[_BOUNDS[key] if is_bound else key] = _bounds(value)
    return out


def _validators(defs: dict[str, Any]) -> None:
    """The JSON Schema form of the models' Python validators, where there is one."""
    for model in defs.values():
        output = model.get("properties", {}).get("output")
        if output:
            output["anyOf"][0]["pattern"] = r"^[0-9]+x[0-9]+x[0-9]+$"
    for name in ("BlockRow", "AuxHead"):
        defs[name]["properties"]["op"].update(_NOT_PRIMITIVE)
        defs[name]["additionalProperties"] = _BLOCK_ARG
    defs["BlockDef"]["properties"]["params"]["uniqueItems"] = True


def _without_required(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    if not isinstance(node, dict):
        return node
    return {k: _without_required(v) for k, v in node.items() if k != "required"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file, as a dict."""
    root = _bounds(Spec.model_json_schema())
    defs = root.pop("$defs")
    _validators(defs)
    props = root["properties"]
    props["blocks"]["propertyNames"] = _NOT_PRIMITIVE
    props["extends"] = {"type": "string", "description": "A base spec, relative to this file."}
    # A spec with `extends:` may leave out anything its base gives: check it against a
    # copy without `required` (its $refs point into the copy's own definitions).
    partial = _without_required({**root, "$defs": defs})
    text = json.dumps(partial).replace('"#/$defs/', '"#/$defs/Partial/$defs/')
    defs["Partial"] = json.loads(text)
    defs["Patch"] = _PATCH
    for schema in (root, defs["Partial"]):
        schema["properties"]["patch"] = {"type": "array", "items": {"$ref": "#/$defs/Patch"}}
    return {
        "$schema": DIALECT,
        "title": "incept spec",
        "description": "An Inception architecture spec for incept (docs/spec-language.md).",
        "$defs": defs,
        "if": {"type": "object", "required": ["extends"]},
        "then": {"$ref": "#/$defs/Partial"},
        "else": root,
    }


def schema_text() -> str:
    """The schema as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
