"""`extends:` — a spec made from a base spec plus overrides and row edits.

Rules (docs/spec-language.md has the user's version):
- `extends: base.yaml` is resolved relative to the spec file; bases may extend too.
  A base must lie inside the project of the spec being compiled (paths.py: the nearest
  folder above it with `.git` or `pyproject.toml`, else its own folder; symbolic links
  resolved), be a YAML mapping, and chains hold at most `limits.MAX_EXTENDS` bases.
  `extends: googlenet` (a name: no folder, no .yaml, no such file beside the spec) is a
  model of the catalog (catalog.py: INCEPT_PATH, then the shipped specs); the bases a
  named spec extends by path must lie inside that spec's own project.
- Mappings merge key by key, recursively; any other value (a list, a scalar)
  given by the spec replaces the base's whole. So `blocks: {inception: {branches:
  {branch3: [...]}}}` replaces one branch and keeps the rest of the template.
- `patch:` is a list of edits applied in order to the merged rows (`layers` and
  `aux_heads`, found by name): `{row: R, set: {...}}` merges into row R,
  `{row: R, unset: [k, ...]}` drops keys, `{row: R, replace: {...}}` swaps it,
  `{row: R, delete: true}` removes it, `{row: R, rename: NEW}` renames it (aux heads
  tapping R follow), `{before|after: R, insert: [rows]}` adds rows;
  `row: "*"` sets or unsets keys on every row (e.g. the base's declared outputs).
Every value keeps the file and position it came from, so an error found later
points at the file that caused it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from .. import limits
from ..errors import Code, Loc, SpecError
from . import catalog
from .messages import did_you_mean
from .paths import inside, project_root
from .source import DataPath, Source, read_source


@dataclass
class _Node:
    """A value with its location; mappings keep their keys' locations too."""

    value: Any  # dict[str, tuple[Loc, _Node]] | list[_Node] | scalar
    loc: Loc


def _tree(src: Source, data: Any, path: DataPath) -> _Node:
    if isinstance(data, dict):
        return _Node(
            {k: (src.key_loc((*path, k)), _tree(src, v, (*path, k))) for k, v in data.items()},
            src.loc(path),
        )
    if isinstance(data, list):
        return _Node([_tree(src, v, (*path, i)) for i, v in enumerate(data)], src.loc(path))
    return _Node(data, src.loc(path))


def _flatten(node: _Node, path: DataPath, positions: dict[DataPath, Loc]) -> Any:
    positions[path] = node.loc
    if isinstance(node.value, dict):
        out = {}
        for key, (key_loc, child) in node.value.items():
            positions[(*path, key, "<key>")] = key_loc
            out[key] = _flatten(child, (*path, key), positions)
        return out
    if isinstance(node.value, list):
        return [_flatten(child, (*path, i), positions) for i, child in enumerate(node.value)]
    return node.value


def _merge(base: _Node, over: _Node) -> _Node:
    if isinstance(base.value, dict) and isinstance(over.value, dict):
        merged = dict(base.value)
        for key, (key_loc, child) in over.value.items():
            merged[key] = (key_loc, _merge(merged[key][1], child) if key in merged else child)
        return _Node(merged, over.loc)
    return over


def _fail(code: Code, message: str, loc: Loc) -> SpecError:
    return SpecError(code, message, loc)


def _key_names(arg: _Node) -> list[_Node]:
    """The keys `unset` names: one key or a list of them, each a string."""
    keys = arg.value if isinstance(arg.value, list) else [arg]
    for key in keys:
        if not isinstance(key.value, str):
            kind = "a list" if isinstance(key.value, list) else "a mapping"
            got = kind if isinstance(key.value, list | dict) else repr(key.value)
            raise _fail(Code.PATCH, f"`unset` takes key names, got {got}", key.loc)
    return keys


class _Patcher:
    """Applies `patch:` edits to the rows of a merged tree."""

    OPS = ("set", "unset", "replace", "delete", "rename", "insert")

    def __init__(self, root: _Node) -> None:
        self.root = root

    def lists(self) -> list[list[_Node]]:
        out = []
        for key in ("layers", "aux_heads"):
            entry = self.root.value.get(key)
            if entry and isinstance(entry[1].value, list):
                out.append(entry[1].value)
        return out

    def find(self, name: Any, loc: Loc) -> tuple[list[_Node], int]:
        for rows in self.lists():
            for i, row in enumerate(rows):
                if isinstance(row.value, dict) and "name" in row.value:
                    if row.value["name"][1].value == name:
                        return rows, i
        names = [
            r.value["name"][1].value
            for rows in self.lists()
            for r in rows
            if isinstance(r.value, dict) and "name" in r.value
        ]
        listed = ", ".join(map(str, names))
        hint = did_you_mean(name, [n for n in names if isinstance(n, str)])
        raise _fail(Code.PATCH, f"no row named {name!r} to patch (rows: {listed}){hint}", loc)

    def apply(self, edit: _Node) -> None:
        if not isinstance(edit.value, dict):
            raise _fail(
                Code.PATCH, "a patch edit is a mapping like {row: conv1, set: {...}}", edit.loc
            )
        keys = set(edit.value)
        ops = [k for k in self.OPS if k in keys]
        where = [k for k in ("row", "before", "after") if k in keys]
        unknown = keys - set(self.OPS) - {"row", "before", "after"}
        if unknown:
            key = sorted(unknown)[0]
            raise _fail(
                Code.UNKNOWN_KEY,
                f"unknown key {key!r} in a patch edit"
                + did_you_mean(key, [*self.OPS, "row", "before", "after"]),
                edit.value[key][0],
            )
        if len(ops) != 1 or len(where) != 1 or (ops == ["insert"]) != (where != ["row"]):
            raise _fail(
                Code.PATCH,
                "a patch edit is {row: R, set|unset|replace|delete|rename: ...} "
                "or {before|after: R, insert: [...]}",
                edit.loc,
            )
        op, anchor = ops[0], where[0]
        target = edit.value[anchor][1]
        arg = edit.value[op][1]
        if target.value == "*":  # every row: e.g. unset the base's declared outputs
            if op not in ("set", "unset"):
                raise _fail(Code.PATCH, f"row '*' takes set or unset, not {op}", edit.value[op][0])
            for rows in self.lists():
                for i, row in enumerate(rows):
                    if op == "set":
                        rows[i] = _merge(row, arg)
                    elif isinstance(row.value, dict):
                        for k in _key_names(arg):
                            row.value.pop(k.value, None)
            return
        rows, i = self.find(target.value, target.loc)
        if op == "set":
            if not isinstance(arg.value, dict):
                raise _fail(Code.PATCH, "`set` takes a mapping of row keys", arg.loc)
            rows[i] = _merge(rows[i], arg)
        elif op == "unset":
            for k in _key_names(arg):
                if k.value not in rows[i].value:
                    raise _fail(Code.PATCH, f"row {target.value!r} has no key {k.value!r}", k.loc)
                del rows[i].value[k.value]
        elif op == "replace":
            rows[i] = arg
        elif op == "rename":
            _rename(self, rows[i], arg)
        elif op == "delete":
            if arg.value is not True:
                raise _fail(Code.PATCH, "`delete` takes true", arg.loc)
            del rows[i]
        else:
            if not isinstance(arg.value, list):
                raise _fail(Code.PATCH, "`insert` takes a list of rows", arg.loc)
            at = i + 1 if anchor == "after" else i
            rows[at:at] = arg.value


def _named(row: _Node) -> Any:
    entry = row.value.get("name") if isinstance(row.value, dict) else None
    return None if entry is None else entry[1].value


def _rename(patcher: _Patcher, row: _Node, arg: _Node) -> None:
    """`{row: R, rename: NEW}`: R is called NEW from here on, and aux heads that tap R
    tap NEW. The new name keeps the patch's position, so errors about it point there."""
    old, new = _named(row), arg.value
    if not isinstance(new, str):
        got = (
            "a list"
            if isinstance(new, list)
            else "a mapping"
            if isinstance(new, dict)
            else repr(new)
        )
        raise _fail(Code.PATCH, f"`rename` takes the row's new name, got {got}", arg.loc)
    for rows in patcher.lists():
        for other in rows:
            if other is not row and _named(other) == new:
                taken = other.value["name"][1].loc
                at = f"line {taken.line}" if taken.path == arg.loc.path else str(taken)
                raise _fail(
                    Code.DUPLICATE_NAME,
                    f"cannot rename {old!r} to {new!r}: a row is already named {new!r} ({at})",
                    arg.loc,
                )
    row.value["name"] = (row.value["name"][0], _Node(new, arg.loc))
    for rows in patcher.lists():
        for other in rows:
            tap = other.value.get("from") if isinstance(other.value, dict) else None
            if tap is not None and tap[1].value == old:
                other.value["from"] = (tap[0], _Node(new, tap[1].loc))


def _beside(spec_path: str, ref: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(spec_path), ref))


def base_file(spec_path: str, ref: str) -> str | None:
    """The file `extends: ref` means in the spec at `spec_path`: the path beside the spec,
    or, for a name with no such file there, the catalog's model (None if it has none)."""
    beside = _beside(spec_path, ref)
    if catalog.is_name(ref) and not os.path.lexists(beside):
        found = catalog.find(ref)
        return None if found is None else str(found)
    return beside


def _base_path(source: Source, loc: Loc, chain: tuple[str, ...], root: str) -> tuple[str, str]:
    """The file `extends:` names and the project its own bases must stay inside.

    A path is resolved beside the spec and refused if it leaves `root`; a name
    (`extends: googlenet`: no folder, no .yaml, no such file beside the spec) is a model
    on the catalog's search path, whose own bases stay inside its project."""
    ref = source.data["extends"]
    if not isinstance(ref, str):
        raise _fail(Code.TYPE, f"extends: expected a spec path, got {ref!r}", loc)
    if len(chain) > limits.MAX_EXTENDS:
        raise _fail(Code.LIMIT, f"extends chains more than {limits.MAX_EXTENDS} bases", loc)
    base_path = base_file(source.path, ref)
    if base_path is None:
        raise _fail(
            Code.EXTENDS,
            f"base spec {ref!r} not found: no such file beside the spec, and "
            + catalog.unknown(ref),
            loc,
        )
    if base_path != _beside(source.path, ref):  # a model by name: its bases stay in its project
        root = project_root(base_path)
    real = os.path.realpath(base_path)
    if not inside(root, real):
        raise _fail(
            Code.EXTENDS,
            f"base spec {ref!r} is outside the spec's project (the folder above it holding "
            ".git or pyproject.toml, else its own folder)",
            loc,
        )
    if real in chain:
        cycle = " -> ".join(os.path.basename(p) for p in (*chain, real))
        raise _fail(Code.EXTENDS, f"extends forms a cycle: {cycle}", loc)
    if not os.path.isfile(base_path):
        raise _fail(Code.EXTENDS, f"base spec {ref!r} not found (looked for {base_path})", loc)
    return base_path, root


def resolve(source: Source, _chain: tuple[str, ...] = (), _root: str | None = None) -> Source:
    """The spec with every `extends` merged in and every `patch` applied."""
    data = source.data
    if not isinstance(data, dict) or ("extends" not in data and "patch" not in data):
        return source
    tree = _tree(source, data, ())
    hashes = [source.sha256]
    if "extends" in data:
        loc = source.loc(("extends",))
        chain = (*_chain, os.path.realpath(source.path))
        root = project_root(source.path) if _root is None else _root
        base_path, base_root = _base_path(source, loc, chain, root)
        base = resolve(read_source(base_path), chain, base_root)
        if not isinstance(base.data, dict):
            raise _fail(
                Code.EXTENDS,
                f"base spec {data['extends']!r} is not a YAML mapping (name:, layers:, ...)",
                loc,
            )
        hashes.append(base.sha256)
        tree = _merge(_tree(base, base.data, ()), tree)
    patch = tree.value.pop("patch", None)
    tree.value.pop("extends", None)
    if patch is not None:
        edits = patch[1]
        if not isinstance(edits.value, list):
            raise _fail(Code.PATCH, "patch: expected a list of edits", edits.loc)
        patcher = _Patcher(tree)
        for edit in edits.value:
            patcher.apply(edit)
    positions: dict[DataPath, Loc] = {}
    merged = _flatten(tree, (), positions)
    # The hash covers the spec and every base, so editing a base changes generated headers.
    digest = (
        hashlib.sha256("\n".join(hashes).encode()).hexdigest() if len(hashes) > 1 else source.sha256
    )
    return Source(source.path, merged, digest, positions)
