"""Read a YAML spec into plain Python data plus a map from data path to position.

ruamel.yaml's round-trip loader remembers the line and column of every key and item,
which is what lets every later error point into the file. A spec is untrusted, so it
is read as plain data only (plain.py: bounded size and depth, no tags, aliases counted
before they expand, one check on every scalar). A spec written in the plain subset of
YAML that quick.py reads (every shipped spec) is read by it instead, with the same data
and positions in a fraction of the time; anything else, errors included, is ruamel's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import Code, Loc, SpecError
from . import quick
from .plain import STDIN, check_flow_depth, check_scalar, is_stdin, read_bounded

DataPath = tuple[str | int, ...]


@dataclass
class Source:
    """A loaded spec: its data, content hash and the position of every node.

    Positions are full locations (file, line, column): after `extends` merges a
    base into a spec, values keep pointing into the file they came from.
    """

    path: str
    data: Any
    sha256: str
    positions: dict[DataPath, Loc] = field(default_factory=dict)

    def loc(self, path: DataPath) -> Loc:
        """Position of the value at `path`, or of the nearest enclosing node that has one."""
        for cut in range(len(path), -1, -1):
            found = self.positions.get(path[:cut])
            if found is not None:
                return found
        return Loc(self.path, 1, 1)

    def key_loc(self, path: DataPath) -> Loc:
        """Position of the key of the mapping entry at `path` (for unknown keys)."""
        return self.positions.get((*path, "<key>")) or self.loc(path)


def _plain(node: Any, path: DataPath, positions: dict[DataPath, Loc], file: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarfloat import ScalarFloat
    from ruamel.yaml.scalarint import ScalarInt

    # ruamel positions are 0-based; ours are 1-based like every compiler's.
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            # Keys pulled in by a `<<:` merge have no position of their own: use the mapping's.
            here = (node.lc.line, node.lc.col)
            kline, kcol = node.lc.key(key) if key in node.lc.data else here
            vline, vcol = node.lc.value(key) if key in node.lc.data else here
            positions[(*path, key, "<key>")] = kloc = Loc(file, kline + 1, kcol + 1)
            positions[(*path, key)] = Loc(file, vline + 1, vcol + 1)
            out[check_scalar(key, kloc)] = _plain(value, (*path, key), positions, file)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions[(*path, index)] = Loc(file, line + 1, col + 1)
            items.append(_plain(value, (*path, index), positions, file))
        return items
    # Numbers that keep their text's format (`0`, `1.0e-4`) as plain ones, as quick.py
    # reads them; ScalarBoolean (an int too) stays a bool.
    if isinstance(node, ScalarFloat):
        node = float(node)
    elif isinstance(node, ScalarInt):
        node = int(node)
    return check_scalar(node, positions[path])


def _checked(data: Any, path: DataPath, positions: dict[DataPath, Loc]) -> None:
    """check_scalar on every key and scalar, in the order _plain checks them."""
    if isinstance(data, dict):
        for key, value in data.items():
            check_scalar(key, positions[(*path, key, "<key>")])
            _checked(value, (*path, key), positions)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _checked(value, (*path, index), positions)
    else:
        check_scalar(data, positions[path])


def _read_quick(raw: bytes, shown: str) -> tuple[Any, dict[DataPath, Loc]] | None:
    """quick.py's reading, with our 1-based locations; None where ruamel must read it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found = quick.read(text)
    if found is None:
        return None
    data, marks = found
    positions = {path: Loc(shown, line + 1, col + 1) for path, (line, col) in marks.items()}
    positions[()] = Loc(shown, 1, 1)
    _checked(data, (), positions)
    return data, positions


def read_source(path: str | Path) -> Source:
    """Load `path`; raise SpecError for unreadable files and malformed or non-plain YAML."""
    shown = STDIN if is_stdin(path) else str(path)
    raw = read_bounded(path, shown)
    too_deep = check_flow_depth(raw)
    if too_deep is not None:
        before = raw[:too_deep].decode("utf-8", "replace")
        loc = Loc(shown, before.count("\n") + 1, len(before) - before.rfind("\n"))
        raise SpecError(Code.LIMIT, f"the spec nests deeper than {limits.MAX_DEPTH} levels", loc)
    sha256 = hashlib.sha256(raw).hexdigest()
    found = _read_quick(raw, shown)
    if found is not None:
        return Source(shown, found[0], sha256, found[1])
    positions: dict[DataPath, Loc] = {(): Loc(shown, 1, 1)}
    data = _plain(_load(raw, shown), (), positions, shown)
    return Source(shown, data, sha256, positions)


#: How a spec given as a mapping is named in errors and generated headers.
MAPPING = "<mapping>"


def mapping_source(data: Mapping[str, Any], shown: str = MAPPING) -> Source:
    """A spec given as Python data (`incept.create_model({...})`), copied to plain data
    and checked as a file's values are: mappings with string keys, lists (tuples become
    lists), strings, numbers, booleans and null, at most MAX_DEPTH deep, every scalar
    through check_scalar. It has no positions: errors point at `<mapping>:1:1` and name
    the row. Its hash is that of its canonical JSON."""
    where = Loc(shown, 1, 1)

    def plain(value: Any, depth: int) -> Any:
        if depth > limits.MAX_DEPTH:
            raise SpecError(
                Code.LIMIT, f"the spec nests deeper than {limits.MAX_DEPTH} levels", where
            )
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SpecError(Code.TYPE, f"mapping keys are strings, got {key!r}", where)
                out[check_scalar(key, where)] = plain(item, depth + 1)
            return out
        if isinstance(value, list | tuple):
            return [plain(item, depth + 1) for item in value]
        if value is None or isinstance(value, str | bool | int | float):
            return check_scalar(value, where)
        raise SpecError(Code.TYPE, f"a spec holds plain data, got {type(value).__name__}", where)

    copied = plain(data, 1)
    text = json.dumps(copied, sort_keys=True, separators=(",", ":"))
    return Source(shown, copied, hashlib.sha256(text.encode()).hexdigest(), {(): where})


def _load(raw: bytes, shown: str) -> Any:
    """ruamel's round-trip reading; every YAML error as a located SpecError."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    from .composer import PlainComposer, Refused

    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = PlainComposer
    try:
        return yaml.load(raw)
    except Refused as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        raise SpecError(exc.code, exc.message, Loc(shown, line, col)) from None
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = _first_line(exc.problem)
        raise SpecError(Code.DUPLICATE_KEY, what, Loc(shown, line, col)) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "malformed YAML"
        raise SpecError(Code.YAML, _first_line(what), Loc(shown, line, col)) from None
    except ReaderError as exc:
        # Bad UTF-8 or a control character; ruamel gives an offset (bytes or characters).
        if exc.encoding != "unicode":
            before = raw[: exc.position].decode("utf-8", "replace")
        else:
            before = raw.decode("utf-8", "replace")[: exc.position]
        line = before.count("\n") + 1
        col = len(before) - before.rfind("\n")
        what = (
            f"spec is not UTF-8 text: {exc.reason}"
            if exc.encoding != "unicode"
            else f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        )
        raise SpecError(Code.YAML, what, Loc(shown, line, col)) from None
    except YAMLError as exc:  # anything else ruamel raises without a position
        raise SpecError(Code.YAML, _first_line(str(exc)), Loc(shown, 1, 1)) from None


def _first_line(text: str) -> str:
    return " ".join(str(text).split())
