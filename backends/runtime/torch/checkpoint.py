"""Torch checkpoints: one dict saved atomically, loaded with weights_only=True.

A checkpoint carries what resuming and evaluating need besides the weights: the
spec's path and fingerprints (a checkpoint of another architecture is refused),
the recipe, the data's classes and normalisation, the optimizer, scheduler and
scaler states, the RNG states and the metrics history.
"""

from __future__ import annotations

import pickle
import random
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
    if not path.is_file():
        raise InputError(Code.CHECKPOINT, path, "no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a global: code, not weights
        raise InputError(
            Code.CHECKPOINT,
            path,
            "holds Python objects beyond tensors and plain data; incept loads weights only "
            "(weights_only=True) and will not run code from a file",
        ) from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise unreadable_checkpoint(path, "torch", exc) from None
    check_format(state, FORMAT, path)
    return state


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
