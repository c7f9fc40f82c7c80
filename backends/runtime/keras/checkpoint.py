"""Keras checkpoints: a native `.keras` archive with the run's identity inside it.

`model.save` writes the model (config, weights and, when compiled, the optimizer's
variables: iteration count and momentum buffers) to a temporary `.keras` file beside
the target; `incept.json` — the run identity (`job.identity`: spec path and hashes,
recipe, data classes/mean/std), the epoch and the metrics history — is then added to
the same zip archive, the file is synced and moved into place with os.replace. One
file, one rename: the identity and the weights cannot come from different epochs, and
a `.keras` file without `incept.json` is refused as "not an incept checkpoint".

The archive stays a normal `.keras` file: `keras.models.load_model` reads it (it
ignores the extra member) once the run's model.py and `incept.runtime.keras` (the
optimizer, schedule and loss classes) are imported.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from incept.compiler.files import staged

from ..errors import Code, InputError, NotACheckpoint, check_format, unreadable_checkpoint

FORMAT = "incept-keras-checkpoint/1"
IDENTITY = "incept.json"
WEIGHTS = "model.weights.h5"  # the archive member where Keras keeps the weights
#: With Polyak averaging the model's weights are the average (what eval, predict and
#: export load); the trained weights, which a resumed run continues from, are here.
TRAINED = "incept-trained.npz"


def save(
    path: Path, model: Any, state: dict[str, Any], members: dict[str, bytes] | None = None
) -> None:
    """Write `model` and `state` (JSON: identity, epoch, history) to `path` atomically,
    with more archive `members` (TRAINED) if given."""
    with staged(path, suffix=".keras") as tmp:  # Keras insists on the suffix
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(IDENTITY, json.dumps({"format": FORMAT, **state}, indent=1))
            for name, data in (members or {}).items():
                archive.writestr(name, data)


def read_member(path: Path, name: str) -> bytes:
    """An archive member's bytes, or InputError(checkpoint) where it is missing."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise unreadable_checkpoint(path, "Keras", exc) from None


def read_state(path: Path) -> dict[str, Any]:
    """The identity stored in the `.keras` archive at `path`, or InputError(checkpoint)."""
    if not path.is_file():
        raise InputError(Code.CHECKPOINT, path, "no such checkpoint file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if IDENTITY not in names:
                raise NotACheckpoint(
                    path,
                    f"not an incept checkpoint (a .keras file without {IDENTITY}; "
                    f"expected {FORMAT})",
                )
            state = json.loads(archive.read(IDENTITY))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise unreadable_checkpoint(path, "Keras", exc) from None
    check_format(state, FORMAT, path)
    return state


def load_weights(model: Any, path: Path) -> None:
    """The archive's weights into `model` (and its optimizer's variables if compiled)."""
    try:
        with weights_file(path) as weights:
            model.load_weights(str(weights))
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError ... for a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            Code.CHECKPOINT, path, f"weights do not load into the model ({reason})"
        ) from None


@contextlib.contextmanager
def weights_file(path: Path) -> Iterator[Path]:
    """A file Keras loads weights from quickly: a `.keras` archive's weights member
    extracted into a temporary folder (removed afterwards), any other file as it is.
    Keras' `load_weights` reads a `.keras` archive's weights through zipfile, where each
    of h5py's backward seeks re-reads the member from its start: 6.5 s against 0.8 s
    extracted for InceptionV3 with its optimizer state (bench/keras_checkpoint_load.py)."""
    if Path(path).suffix != ".keras":
        yield Path(path)
        return
    with contextlib.ExitStack() as stack:
        yield _extracted(Path(path), stack) or Path(path)


def _extracted(path: Path, stack: contextlib.ExitStack) -> Path | None:
    """The archive's weights member in a temporary folder that `stack` removes, or None
    where there is no room for the copy (Keras then reads the archive itself, slowly)."""
    try:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="incept-weights-")))
        with zipfile.ZipFile(path) as archive:
            archive.extract(WEIGHTS, folder)
    except OSError:  # a full or read-only temporary folder; a damaged archive is not one
        return None
    return folder / WEIGHTS  # its name ends in weights.h5, as Keras requires
