"""Checks shared by every backend before weights meet a model or a run continues.

A checkpoint (torch `.pt` or Keras `.keras`) carries the run's identity
(`job.identity`): the spec's path and fingerprints, the recipe, the data's classes
and normalisation, the history and the epoch. These functions read only that part,
so the rules (which architecture, which recipe, which classes) are the same whichever
framework wrote the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from incept.compiler.spec.schema import Training

from . import recipe as recipes
from .checkpoints import check_architecture
from .errors import Code, InputError
from .job import Job

#: Schedules whose learning rate at a step does not depend on the run's length: a run
#: of them may be extended with a larger --epochs on --resume.
EXTENSIBLE = ("constant", "paper")


def resume_state(job: Job, load: Callable[[Path], dict[str, Any]]) -> dict[str, Any] | None:
    """The checkpoint to continue from (read by `load`), after checking it belongs to
    this run: None for a fresh run; InputError(resume) for --resume with nothing to
    resume, a run folder in use without --resume, another architecture or a changed
    recipe (a larger --epochs is allowed where the schedule does not depend on it)."""
    last = job.run.last
    if not job.resume:
        if last.exists():
            raise InputError(
                Code.RESUME,
                job.run.path,
                "holds a run already; pass --resume to continue it or choose another --run-dir",
            )
        return None
    if not last.exists():
        raise InputError(Code.RESUME, job.run.path, f"nothing to resume: no {last.name} here")
    state = load(last)
    check_architecture(state, job.compiled.arch_sha256, last, Code.RESUME)
    saved = Training.model_validate(state["recipe"])
    changed = recipes.differences(saved, job.recipe)
    if changed == ["epochs"]:
        _check_extension(saved, job.recipe, last)
    elif changed:
        raise InputError(
            Code.RESUME,
            last,
            "resume continues the saved recipe, but these differ: "
            + ", ".join(changed)
            + " (start a new run from its weights to change them: --init-from "
            + f"{job.run.path} --run-dir NEW)",
        )
    return state


def _check_extension(saved: Training, wanted: Training, last: Path) -> None:
    if wanted.epochs < saved.epochs:
        raise InputError(
            Code.RESUME, last, f"--epochs {wanted.epochs} is fewer than the run's {saved.epochs}"
        )
    if saved.schedule not in EXTENSIBLE:
        raise InputError(
            Code.RESUME,
            last,
            f"the {saved.schedule} schedule is laid out over the run's {saved.epochs} epochs, so "
            f"--epochs cannot grow on --resume; train further from its weights in a new run: "
            f"--init-from {last.parent.parent} --run-dir NEW",
        )
