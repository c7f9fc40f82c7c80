"""Plain data only: what the YAML reader refuses before a spec can cost much.

A spec is untrusted. Its file size is bounded before parsing; brackets are counted
before ruamel scans them; the composer (composer.py) refuses tags, bounds nesting and
counts nodes with aliases expanded before anything is expanded; and every scalar passes
one check: numbers finite and of sane size, text free of control characters. Limits:
compiler/limits.py.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import Code, Loc, SpecError

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


def check_scalar(value: Any, loc: Loc) -> Any:
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


#: How a spec read from standard input (`incept compile -`) is named in messages and
#: headers; its `extends:` paths resolve against the current folder.
STDIN = "<stdin>"
#: Standard input read once (`incept docs -` reads the spec again for its chain), with
#: the stream it came from: a new stream (tests) is read anew.
_stdin: list[tuple[Any, bytes]] = []


def is_stdin(path: str | Path) -> bool:
    return str(path) in ("-", STDIN)


def _read_stdin() -> bytes:
    if not _stdin or _stdin[0][0] is not sys.stdin:
        _stdin[:] = [(sys.stdin, sys.stdin.buffer.read(limits.MAX_FILE_BYTES + 1))]
    return _stdin[0][1]


def read_bounded(path: str | Path, shown: str) -> bytes:
    """The file's bytes, refusing it unread past MAX_FILE_BYTES (/dev/zero, a 20 MB spec)."""
    try:
        if is_stdin(path):
            raw = _read_stdin()
        else:
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


#: Bytes that open, close or hide flow brackets.
_FLOW_TOKENS = re.compile(rb"""[\[\]{}'"#\n\\]""")


def check_flow_depth(raw: bytes) -> int | None:
    """The offset of the first `[` or `{` nested deeper than MAX_DEPTH, or None.

    ruamel's scanner looks up to 1,024 characters ahead at every open flow level, so a
    line of `[[[[...` costs it most of a second before the composer sees the depth.
    Counting brackets outside quotes and comments first is linear; a bracket inside a
    plain (unquoted) scalar counts too, so 33 unclosed ones there are refused as well.
    """
    depth, quote, comment, skip = 0, b"", False, -1
    for found in _FLOW_TOKENS.finditer(raw):
        at, ch = found.start(), found.group()
        if at == skip:
            continue
        if comment:
            comment = ch != b"\n"
        elif quote:
            if ch == b"\\" and quote == b'"':
                skip = at + 1  # an escaped character, perhaps a quote
            elif ch == quote == b"'" and raw[at + 1 : at + 2] == b"'":
                skip = at + 1  # '' is a quote inside single quotes
            elif ch == quote:
                quote = b""
        elif ch in b"'\"" and (at == 0 or raw[at - 1 : at] in b" \t\n[{,:"):
            quote = ch
        elif ch == b"#" and (at == 0 or raw[at - 1 : at] in b" \t\n"):
            comment = True
        elif ch in b"[{":
            depth += 1
            if depth > limits.MAX_DEPTH:
                return at
        elif ch in b"]}":
            depth = max(0, depth - 1)
    return None
