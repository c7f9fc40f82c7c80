"""Errors are data: a stable code, a message, and where in which file.

Every problem in a spec, from a YAML typo to a spatial size that collapses to
zero, becomes one `SpecError` that the CLI prints as
`path:line:col: error[code]: message` and turns into exit status 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Stable error codes; tests pin one per code."""

    IO = "io"  # the spec file cannot be read
    YAML = "yaml"  # not well-formed YAML
    DUPLICATE_KEY = "duplicate-key"  # a mapping repeats a key
    UNKNOWN_KEY = "unknown-key"  # a key the schema does not know
    MISSING_KEY = "missing-key"  # a required key is absent
    TYPE = "type"  # a value of the wrong type
    VALUE = "value"  # a value out of range or not among the choices
    UNKNOWN_OP = "unknown-op"  # `op:` names neither a layer nor a block in `blocks:`
    BLOCK_ARGS = "block-args"  # a block row misses or adds template parameters
    UNKNOWN_REF = "unknown-ref"  # `$name` is not a template parameter nor a global
    DUPLICATE_NAME = "duplicate-name"  # two rows or two layers of one block share a name
    UNKNOWN_ROW = "unknown-row"  # an aux head taps a row that does not exist
    COLLAPSE = "collapse"  # a spatial size shrinks to zero or below
    OUTPUT = "output"  # inferred output != the row's declared `output` (channels do not add up)
    CONCAT = "concat"  # branches of a block disagree on spatial size
    RANK = "rank"  # a layer gets a flat tensor where it needs an image, or the reverse
    POOL_PADDING = "pool-padding"  # pool padding larger than half the kernel
    GROUPS = "groups"  # a grouped conv's channels do not divide by its groups
    RESIDUAL = "residual"  # a residual branch and its shortcut disagree on shape
    REPEAT = "repeat"  # a repeated block changes its input's shape
    EXTENDS = "extends"  # a base spec is missing, or `extends` chains form a cycle
    PATCH = "patch"  # a `patch:` edit names a row that does not exist or is malformed
    LIMIT = "limit"  # a documented size limit is exceeded (compiler/limits.py)
    YAML_TAG = "yaml-tag"  # an explicit YAML tag (`!!python/object`, `!!str`): specs are plain data
    YAML_ALIAS = "yaml-alias"  # an alias inside the node it names: it would expand forever
    NON_FINITE = "non-finite"  # .inf or .nan where a number is expected
    TEXT = "text"  # a string holds a control, bidi-override or surrogate character
    NFKC = "nfkc"  # an identifier Python would read as another name (not NFKC-normalised)
    INTERNAL = "internal"  # a compiler bug (verifier or unexpected exception): exit status 3


@dataclass(frozen=True)
class Loc:
    """A 1-based position in a spec file."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class UserError(Exception):
    """A problem with what the user gave incept (a spec, a data set, a checkpoint, an
    image, a flag): the CLI prints `str(err)`, one line, and exits with `exit_status`."""

    exit_status = 2


class SpecError(UserError):
    """One located problem with a spec."""

    def __init__(self, code: Code, message: str, loc: Loc) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        return one_line(f"{self.loc}: error[{self.code.value}]: {self.message}")

    @property
    def exit_status(self) -> int:  # type: ignore[override]
        return 3 if self.code is Code.INTERNAL else 2


def one_line(text: str) -> str:
    """`text` with every non-printable character escaped (\\n, \\x1b, \\u202e): a message
    echoes spec values and file names, which must not break the line or drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
