"""Torch checkpoints: one dict saved atomically, loaded with weights_only=True.

A checkpoint carries what resuming and evaluating need besides the weights: the
spec's path and fingerprints (a checkpoint of another architecture is refused),
the recipe, the data's classes and normalisation, the optimizer, scheduler and
scaler states, the RNG states and the metrics history.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import torch

from incept.compiler.files import copy_atomic, write_atomic

from ..errors import Code, InputError, check_format, unreadable_checkpoint

FORMAT = "incept-torch-checkpoint/1"


def save(path: Path, state: dict[str, Any]) -> None:
    write_atomic(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def copy(source: Path, target: Path) -> None:
    copy_atomic(source, target)


def load(path: Path) -> dict[str, Any]:
    """The checkpoint at `path`, or InputError(checkpoint) saying what is wrong with it."""
    state = read_file(path)
    check_format(state, FORMAT, path)
    return state


def read_file(path: Path) -> Any:
    """What a torch file holds, read as data only (weights_only=True: tensors and plain
    containers; a pickle that would construct other objects is refused unexecuted), or
    InputError(checkpoint) saying what is wrong with it."""
    if not path.is_file():
        raise InputError(Code.CHECKPOINT, path, "no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise refused(path, exc) from None


def refused(path: object, exc: Exception) -> InputError:
    """One short line for a file torch.load refused (torch explains in paragraphs)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, pickle.UnpicklingError) and "unsupported GLOBAL" in text:
        return InputError(
            Code.CHECKPOINT,
            path,
            "holds Python objects beyond tensors and plain data; incept loads weights only "
            "(weights_only=True) and runs no code from a file",
        )
    if "inline_container" in text or "PytorchStreamReader" in text:
        return InputError(
            Code.CHECKPOINT, path, "not a torch checkpoint (an archive without torch's data.pkl)"
        )
    if isinstance(exc, OSError | EOFError) or "zip" in text.lower():
        return InputError(
            Code.CHECKPOINT, path, "not a readable torch checkpoint (truncated or damaged file)"
        )
    if isinstance(path, Path) and not zipfile.is_zipfile(path):
        # torch has written zip archives since 1.6; read as an old-style pickle, random
        # bytes fail with whatever opcode comes first ("Unsupported operand 84")
        return InputError(
            Code.CHECKPOINT,
            path,
            "not a readable torch checkpoint (not torch's zip archive: a damaged or foreign file)",
        )
    _, found, detail = text.partition("WeightsUnpickler error: ")
    detail = detail.split(" Check the documentation")[0]
    return unreadable_checkpoint(path, "torch", ValueError(detail) if found else exc)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
