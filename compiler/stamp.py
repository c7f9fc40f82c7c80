"""The checksum line of a generated file: it tells an edited file from incept's own.

A generated module's docstring holds `File checksum <sha256> ...`, the SHA-256 of the
whole file with those 64 digits written as zeros. `incept compile` refuses to overwrite
a file whose checksum no longer matches (someone edited it) unless given --force.
Pure Python: the CLI checks a file without importing a backend.
"""

from __future__ import annotations

import hashlib
import re

ZEROS = "0" * 64
#: The line templates print; `stamp` puts the real digits in.
LINE = f"File checksum {ZEROS} (sha256 of this file with these digits as zeros)."
_FOUND = re.compile(r"^File checksum ([0-9a-f]{64}) ", re.MULTILINE)
#: The line must be in the header, not in text a spec put further down.
_HEADER_CHARS = 2_000


def _digest(text: str, start: int, end: int) -> str:
    zeroed = text[:start] + ZEROS + text[end:]
    return hashlib.sha256(zeroed.encode()).hexdigest()


def stamp(text: str) -> str:
    """`text` (rendered from a template printing LINE) with its checksum filled in."""
    found = _FOUND.search(text, 0, _HEADER_CHARS)
    if found is None or found.group(1) != ZEROS:
        raise ValueError("generated text has no checksum line to fill")
    start, end = found.span(1)
    return text[:start] + _digest(text, start, end) + text[end:]


def edited(text: str) -> bool:
    """Whether `text` carries a checksum line that no longer matches it.

    Files without one (older output, or not incept's at all) count as not edited.
    """
    found = _FOUND.search(text, 0, _HEADER_CHARS)
    if found is None:
        return False
    start, end = found.span(1)
    return found.group(1) != _digest(text, start, end)
