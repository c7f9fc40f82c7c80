"""A fast reader for the plain subset of YAML that specs are written in.

ruamel.yaml's pure-Python round-trip loader (source.py) costs a fifth of an
`incept compile`. Specs use a small part of YAML: block mappings and sequences,
flow collections, plain scalars and simple double-quoted strings, comments.
This module reads exactly that subset, with ruamel's positions, in a few milliseconds.

It only ever answers for documents it fully understands: anything else (anchors,
tags, block scalars, multi-line values, escapes, odd numbers, duplicate keys, tabs,
control characters, syntax errors, sizes near the limits) returns None, and source.py
reads the file with ruamel, which also words every error. So errors and their positions
come from one place, and an accepted document gives the same data and positions as
ruamel's (tests/test_quick_yaml.py compares the two on every YAML file in the repository
and on generated specs).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from .. import limits

#: (line, column), 0-based like ruamel's marks.
Mark = tuple[int, int]
Positions = dict[tuple[Any, ...], Mark]


class _Bail(Exception):
    """Not in the subset: let ruamel read the document."""


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)")
#: A string that starts with digits continues with a letter other than those that make
#: it a number in YAML 1.2 (1e5, 0x1F, 0o17, 1_000): `112x112x64`, `3x3_reduce`.
_DIGIT_WORD = re.compile(r"[1-9][0-9]*[A-DF-Za-df-z][A-Za-z0-9_]*")
_SPECIAL = frozenset(("null", "true", "false"))
#: Characters a plain scalar may not start with (YAML indicators and quotes).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`=~.+")
_FLOW_STOP = frozenset(",[]{}:\n")


def _scalar(text: str) -> Any:
    """A plain scalar's value as ruamel resolves it (YAML 1.2), for the forms we accept."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered in _SPECIAL:
        if text != lowered:
            raise _Bail  # True, NULL, ...: leave the spellings to ruamel
        return {"null": None, "true": True, "false": False}[text]
    if text[0] in _INDICATORS or text[0].isspace():
        raise _Bail
    if text[0].isdigit() and not _DIGIT_WORD.fullmatch(text):
        raise _Bail
    if ": " in text or text.endswith(":") or " #" in text:
        raise _Bail
    return text


class _Reader:
    def __init__(self, text: str) -> None:
        # (line number, indent, text without comment); blank and comment lines dropped.
        self.lines: list[tuple[int, int, str]] = []
        for number, line in enumerate(text.split("\n")):
            if not line.isprintable() or "\\" in line:
                raise _Bail  # tabs, control characters, escapes: ruamel's to judge
            cut = 0 if line.startswith("#") else line.find(" #")
            quote = line.find('"')
            if 0 <= quote and (cut < 0 or quote < cut) and "#" in line[quote:]:
                raise _Bail  # a `#` inside quotes is not a comment: not worth telling here
            body = line if cut < 0 else line[:cut]
            if body.startswith("#"):
                continue
            body = body.rstrip(" ")
            if not body:
                continue
            if body.startswith(("%", "---", "...")):
                raise _Bail
            self.lines.append((number, len(body) - len(body.lstrip(" ")), body))
        self.at = 0
        # Where each line of the flow collection being read starts in the joined text.
        self.offsets: list[int] = []
        self.numbers: list[int] = []
        self.positions: Positions = {}
        self.nodes = 0

    def count(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes >= limits.MAX_YAML_NODES or depth >= limits.MAX_DEPTH - 1:
            raise _Bail

    # -- block context -------------------------------------------------------------

    def document(self) -> Any:
        if not self.lines or self.lines[0][1] != 0:
            raise _Bail
        data = self.block(0, self.lines[0][1], (), 1)
        if self.at != len(self.lines):
            raise _Bail
        return data

    def block(self, start: int, indent: int, path: tuple[Any, ...], depth: int) -> Any:
        number, _, text = self.lines[self.at]
        self.positions[path] = (number, start)
        self.count(depth)
        if text.startswith("-", start):
            if not text.startswith("- ", start):
                raise _Bail  # `-` alone (an item on the next lines) or a negative number
            return self.sequence(indent, path, depth)
        return self.mapping(start, path, depth)

    def mapping(self, indent: int, path: tuple[Any, ...], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first = True
        while self.at < len(self.lines):
            number, line_indent, text = self.lines[self.at]
            # The first key of a mapping inside a sequence item sits after its `- `.
            if not first and line_indent != indent:
                if line_indent > indent:
                    raise _Bail
                break
            first = False
            key_match = _KEY.match(text, indent)
            if key_match is None:
                raise _Bail
            key = key_match.group()
            end = key_match.end()
            if key.lower() in _SPECIAL or key in out or not text.startswith(":", end):
                raise _Bail
            self.positions[(*path, key, "<key>")] = (number, indent)
            self.count(depth + 1)  # ruamel counts keys as nodes too
            rest = end + 1
            if rest == len(text):  # the value is a block on the next lines
                self.at += 1
                if self.at == len(self.lines):
                    raise _Bail  # an empty value (null)
                child_indent, child = self.lines[self.at][1:]
                # Deeper, or a sequence at the key's own indent (as ruamel writes them).
                if child_indent < indent or child_indent == indent and child[indent] != "-":
                    raise _Bail  # an empty value (null)
                out[key] = self.block(child_indent, child_indent, (*path, key), depth + 1)
                continue
            if text[rest] != " ":
                raise _Bail
            start = len(text) - len(text[rest:].lstrip(" "))
            out[key] = self.inline(number, text, start, (*path, key), depth + 1)
            self.at += 1
        return out

    def sequence(self, indent: int, path: tuple[Any, ...], depth: int) -> list[Any]:
        out: list[Any] = []
        while self.at < len(self.lines):
            number, line_indent, text = self.lines[self.at]
            if line_indent != indent:
                if line_indent > indent:
                    raise _Bail
                break
            if not text.startswith("- ", indent):
                break
            start = len(text) - len(text[indent + 1 :].lstrip(" "))
            item_path = (*path, len(out))
            if text.startswith("- ", start) or text[start] in "[{" or not _KEY.match(text, start):
                out.append(self.inline(number, text, start, item_path, depth + 1))
                self.at += 1
                continue
            key_end = _KEY.match(text, start).end()  # type: ignore[union-attr]
            if not text.startswith(":", key_end):  # a plain scalar item
                out.append(self.inline(number, text, start, item_path, depth + 1))
                self.at += 1
                continue
            # `- key: value`: a mapping whose keys line up with this first one.
            self.lines[self.at] = (number, start, text)
            self.positions[item_path] = (number, start)
            self.count(depth + 1)
            out.append(self.mapping(start, item_path, depth + 1))
        return out

    def inline(self, number: int, text: str, start: int, path: tuple[Any, ...], depth: int) -> Any:
        """The rest of a line from `start`: a flow collection (which may go on over the
        next lines; self.at moves to its last) or a scalar."""
        if text[start] in "[{":
            return self.flow_lines(start, path, depth)
        self.positions[path] = (number, start)
        self.count(depth)
        return _quoted(text, start, len(text)) if text[start] == '"' else _scalar(text[start:])

    # -- flow context ------------------------------------------------------------------

    def flow_lines(self, start: int, path: tuple[Any, ...], depth: int) -> Any:
        """The flow collection at column `start` of the current line, read over as many
        lines as its brackets take; the lines after the first must be indented deeper."""
        first = self.at
        number, indent, text = self.lines[first]
        parts, self.offsets, self.numbers = [text], [0], [number]
        size, open_brackets = len(text), _brackets(text[start:])
        while open_brackets > 0:
            self.at += 1
            if self.at == len(self.lines) or self.lines[self.at][1] <= indent:
                raise _Bail
            number, _, text = self.lines[self.at]
            self.offsets.append(size + 1)
            self.numbers.append(number)
            parts.append(text)
            size += 1 + len(text)
            open_brackets += _brackets(text)
        joined = "\n".join(parts)
        value, end = self.flow(joined, start, path, depth)
        if end != len(joined):
            raise _Bail
        return value

    def mark(self, at: int) -> Mark:
        """The (line, column) of offset `at` of the joined flow lines."""
        index = bisect.bisect_right(self.offsets, at) - 1
        return self.numbers[index], at - self.offsets[index]

    def flow(self, text: str, at: int, path: tuple[Any, ...], depth: int) -> Any:
        """The flow node at text[at]; returns it and the index just after it."""
        self.positions[path] = self.mark(at)
        self.count(depth)
        opener = text[at]
        if opener in "[{":
            closer = "]" if opener == "[" else "}"
            items: Any = [] if opener == "[" else {}
            at = _skip(text, at + 1)
            if text.startswith(closer, at):
                return items, at + 1
            while True:
                if opener == "{":
                    key_match = _KEY.match(text, at)
                    if key_match is None:
                        raise _Bail
                    key = key_match.group()
                    colon = key_match.end()
                    if key.lower() in _SPECIAL or key in items:
                        raise _Bail
                    if text[colon : colon + 2] not in (": ", ":\n"):
                        raise _Bail
                    self.positions[(*path, key, "<key>")] = self.mark(at)
                    self.count(depth + 1)
                    at = _skip(text, colon + 1)
                    items[key], at = self.flow(text, at, (*path, key), depth + 1)
                else:
                    here = (*path, len(items))
                    value, at = self.flow(text, at, here, depth + 1)
                    items.append(value)
                at = _skip(text, at)
                if text.startswith(closer, at):
                    return items, at + 1
                if not text.startswith(",", at):
                    raise _Bail  # junk, or a plain scalar folded over two lines
                at = _skip(text, at + 1)
                if text.startswith(closer, at):
                    raise _Bail  # a trailing comma
        if opener == '"':
            end = text.find('"', at + 1)
            if end < 0:
                raise _Bail
            return _quoted(text, at, end + 1), end + 1
        end = at
        while end < len(text) and text[end] not in _FLOW_STOP:
            end += 1
        word = text[at:end].rstrip(" ")
        if not word:
            raise _Bail
        return _scalar(word), at + len(word)


def _brackets(text: str) -> int:
    """Flow brackets opened minus closed, outside double quotes."""
    count, quoted = 0, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "[{":
            count += 1
        elif not quoted and ch in "]}":
            count -= 1
    return count


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \n":
        at += 1
    return at


def _quoted(text: str, start: int, end: int) -> str:
    """A double-quoted scalar text[start:end], quotes included, without escapes."""
    inner = text[start + 1 : end - 1]
    if end - start < 2 or text[end - 1] != '"' or '"' in inner or "\n" in inner:
        raise _Bail
    return inner


def read(text: str) -> tuple[Any, Positions] | None:
    """The document's data and every node's position (keys under `(*path, key,
    "<key>")`), or None when the document is not in the subset this module reads."""
    try:
        reader = _Reader(text)
        data = reader.document()
    except (_Bail, IndexError):
        return None
    return data, reader.positions
