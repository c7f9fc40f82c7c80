"""Bad input to the runtime (a data set, a checkpoint, an image, a flag) as data.

The CLI prints an `InputError` as one line, `where: error[code]: message`, and exits
with status 2, like a spec error; nothing is written before the input is checked.
"""

from __future__ import annotations

from enum import StrEnum

from incept.compiler.errors import UserError, one_line


class Code(StrEnum):
    """Stable codes for the runtime's input errors."""

    DATA = "data"  # a data set is missing, corrupt, or does not fit the spec
    CHECKPOINT = "checkpoint"  # a checkpoint is unreadable or belongs to another spec
    RESUME = "resume"  # --resume with nothing to resume, or a run of another spec
    IMAGE = "image"  # an image file cannot be read
    FLAG = "flag"  # a command-line value is out of range or contradicts another
    PREFLIGHT = "preflight"  # the built model disagrees with the IR's shapes or counts


class InputError(UserError):
    """One located problem with the runtime's input."""

    def __init__(self, code: Code, where: str | object, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.where = str(where)
        self.message = message

    def __str__(self) -> str:
        return one_line(f"{self.where}: error[{self.code.value}]: {self.message}")


def unreadable_checkpoint(path: object, framework: str, exc: BaseException) -> InputError:
    """The error for a checkpoint its framework cannot read, with the first line of why."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(Code.CHECKPOINT, path, f"not a readable {framework} checkpoint ({reason})")


def check_format(state: object, expected: str, path: object) -> None:
    """A readable checkpoint must also be one of incept's, of the expected format."""
    if not isinstance(state, dict) or state.get("format") != expected:
        raise InputError(Code.CHECKPOINT, path, f"not an incept checkpoint (expected {expected})")
