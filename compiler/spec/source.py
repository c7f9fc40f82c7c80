"""Read a YAML spec into plain Python data plus a map from data path to position.

ruamel.yaml's round-trip loader remembers the line and column of every key and item,
which is what lets every later error point into the file. A spec is untrusted, so it
is read as plain data only: the file size is bounded before parsing; the composer
(`_PlainComposer`) refuses tags, bounds nesting and counts nodes with aliases expanded
before anything is expanded; and every scalar passes one check (`_scalar`): floats are
finite, strings hold no control characters.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError

from .. import limits
from ..errors import Code, Loc, SpecError

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


class _Refused(Exception):
    """Raised by the composer; read_source adds the file name."""

    def __init__(self, code: Code, message: str, mark: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.mark = code, message, mark


class _PlainComposer(Composer):
    """ruamel's composer, refusing what plain data does not need before it can cost much.

    The composer recurses once per nesting level, so depth is checked before Python's
    recursion limit is near. Aliases share the node they name, so a billion-laughs
    document is small until something walks it: each node's expanded size is known
    once it is composed, and the running total is checked as each alias is met.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.level = 0
        self.expanded = 0  # nodes so far, every alias counted as the nodes it names
        self.sizes: dict[int, int] = {}  # id(node) -> its expanded size, once composed

    def count(self, n: int, mark: Any) -> None:
        self.expanded += n
        if self.expanded > limits.MAX_YAML_NODES:
            raise _Refused(
                Code.LIMIT,
                f"the spec has more than {limits.MAX_YAML_NODES:,} YAML nodes "
                "(aliases counted as what they expand to)",
                mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self.sizes:
                raise _Refused(
                    Code.YAML_ALIAS,
                    f"alias *{event.anchor} is inside the node it names (it would never end)",
                    event.start_mark,
                )
            node = super().compose_node(parent, index)  # an undefined alias: ruamel's error
            self.count(self.sizes[id(node)], event.start_mark)
            return node
        if event.tag is not None:
            raise _Refused(
                Code.YAML_TAG,
                f"YAML tags are not allowed in a spec (found {event.tag}): specs are plain data",
                event.start_mark,
            )
        self.level += 1
        if self.level > limits.MAX_DEPTH:
            raise _Refused(
                Code.LIMIT,
                f"the spec nests deeper than {limits.MAX_DEPTH} levels",
                event.start_mark,
            )
        self.count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self.level -= 1
        children = node.value if isinstance(node.value, list) else []
        flat = [n for c in children for n in (c if isinstance(c, tuple) else (c,))]
        self.sizes[id(node)] = 1 + sum(self.sizes[id(c)] for c in flat)
        return node


#: Invisible characters that reorder or hide source text ("Trojan Source", CVE-2021-42574).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def bad_character(text: str) -> str | None:
    """The first character a spec string may not hold: C0/C1 controls other than tab and
    newline, line/paragraph separators, bidi controls and lone surrogates."""
    for ch in text:
        if ch in "\t\n":
            continue
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            return ch
    return None


def _scalar(value: Any, loc: Loc) -> Any:
    """The one check every key and value of a spec passes: finite floats of sane size,
    text without control characters."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(Code.NON_FINITE, f"numbers must be finite, got {value!r}", loc)
    if isinstance(value, int | float) and abs(value) > limits.MAX_NUMBER:
        raise SpecError(Code.LIMIT, f"numbers are at most 2**53 in size, got {value:.3g}", loc)
    if isinstance(value, str) and (ch := bad_character(value)) is not None:
        raise SpecError(
            Code.TEXT,
            f"character U+{ord(ch):04X} ({unicodedata.name(ch, 'control')}) is not allowed "
            f"in spec text",
            loc,
        )
    return value


def _plain(node: Any, path: DataPath, positions: dict[DataPath, Loc], file: str) -> Any:
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
            out[_scalar(key, kloc)] = _plain(value, (*path, key), positions, file)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions[(*path, index)] = Loc(file, line + 1, col + 1)
            items.append(_plain(value, (*path, index), positions, file))
        return items
    return _scalar(node, positions[path])


def _read_bounded(path: str | Path, shown: str) -> bytes:
    """The file's bytes, refusing it unread past MAX_FILE_BYTES (/dev/zero, a 20 MB spec)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(limits.MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecError(Code.IO, f"cannot read spec: {exc.strerror}", Loc(shown, 1, 1)) from None
    if len(raw) > limits.MAX_FILE_BYTES:
        raise SpecError(
            Code.LIMIT,
            f"the spec file is larger than {limits.MAX_FILE_BYTES // 1024} KiB",
            Loc(shown, 1, 1),
        )
    return raw


def read_source(path: str | Path) -> Source:
    """Load `path`; raise SpecError for unreadable files and malformed or non-plain YAML."""
    shown = str(path)
    raw = _read_bounded(path, shown)
    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = _PlainComposer
    try:
        doc = yaml.load(raw)
    except _Refused as exc:
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
    positions: dict[DataPath, Loc] = {(): Loc(shown, 1, 1)}
    data = _plain(doc, (), positions, shown)
    return Source(shown, data, hashlib.sha256(raw).hexdigest(), positions)


def _first_line(text: str) -> str:
    return " ".join(str(text).split())
