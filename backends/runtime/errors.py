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
    PRETRAINED = "pretrained"  # a weight source that does not fit the model, or is unknown
    PREFLIGHT = "preflight"  # the built model disagrees with the IR's shapes or counts
    MISSING = "missing-extra"  # an optional dependency of the command is not installed
    WRITE = "write"  # a file could not be written (full disk, no permission)
    NON_FINITE = "non-finite"  # the loss or the weights became NaN or infinite: exit 4
    STOPPED = "stopped"  # SIGTERM / SIGINT: the run saved its place and stopped: exit 128 + N


class InputError(UserError):
    """One located problem with the runtime's input."""

    def __init__(self, code: Code, where: str | object, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.where = str(where)
        self.message = message

    def __str__(self) -> str:
        return one_line(f"{self.where}: error[{self.code.value}]: {self.message}")


class NotACheckpoint(InputError):
    """A readable file that is no incept checkpoint (a plain state_dict, a Keras model):
    commands that also take plain weights files read it as one."""

    def __init__(self, where: object, message: str) -> None:
        super().__init__(Code.CHECKPOINT, where, message)


#: Exit statuses besides 0, 2 (bad input) and 3 (a bug): documented in docs/training.md.
EXIT_NON_FINITE = 4


class NonFinite(InputError):
    """Training produced NaN or infinity; nothing non-finite was saved."""

    exit_status = EXIT_NON_FINITE

    def __init__(self, where: str, message: str) -> None:
        super().__init__(Code.NON_FINITE, where, message)


class Stopped(InputError):
    """A signal stopped training after its place was saved; exit 128 + the signal."""

    def __init__(self, where: str, message: str, signum: int) -> None:
        super().__init__(Code.STOPPED, where, message)
        self.exit_status = 128 + signum


def short_reason(exc: BaseException) -> str:
    """The first sentence of an exception's message (frameworks write paragraphs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    first = text.split(". ")[0].split("\n")[0]
    return first[:160].rstrip(".")


def unreadable_checkpoint(path: object, framework: str, exc: BaseException) -> InputError:
    """The error for a checkpoint its framework cannot read, with the first clause of why."""
    return InputError(
        Code.CHECKPOINT, path, f"not a readable {framework} checkpoint ({short_reason(exc)})"
    )


def write_failed(path: object, exc: OSError) -> InputError:
    """A file that could not be written; the previous version, if any, is intact."""
    return InputError(
        Code.WRITE, path, f"cannot be written ({exc.strerror or exc}); the previous file is intact"
    )


def check_format(state: object, expected: str, path: object) -> None:
    """A readable checkpoint must also be one of incept's, of the expected format."""
    if not isinstance(state, dict) or state.get("format") != expected:
        raise NotACheckpoint(path, f"not an incept checkpoint (expected {expected})")
