"""Checks shared by every backend before weights meet a model or a run continues.

A checkpoint (torch `.pt` or Keras `.keras`) carries the run's identity
(`job.identity`): the spec's path and fingerprints, the recipe, the data's classes
and normalisation, the history and the epoch. These functions read only that part,
so the rules (which architecture, which recipe, which classes) are the same whichever
framework wrote the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from incept.compiler.pipeline import Compiled, compile_spec
from incept.compiler.spec.schema import Training

from . import recipe as recipes
from .data import Dataset
from .errors import Code, InputError
from .job import Job


def check_architecture(
    state: Mapping[str, Any], arch_sha256: str, where: object, code: Code
) -> None:
    saved = state["spec"]["arch_sha256"]
    if saved != arch_sha256:
        raise InputError(
            code,
            where,
            f"was trained from {state['spec']['path']} (architecture {saved[:12]}), "
            f"which differs from this spec's architecture ({arch_sha256[:12]})",
        )


def resume_state(job: Job, load: Callable[[Path], dict[str, Any]]) -> dict[str, Any] | None:
    """The checkpoint to continue from (read by `load`), after checking it belongs to
    this run: None for a fresh run; InputError(resume) for --resume with nothing to
    resume, a run folder in use without --resume, another architecture or a changed
    recipe."""
    last = job.run.last
    if not job.resume:
        if last.exists():
            raise InputError(
                Code.RESUME,
                job.run.path,
                "holds a run already; pass --resume to continue it or choose another --out",
            )
        return None
    if not last.exists():
        raise InputError(Code.RESUME, job.run.path, f"nothing to resume: no {last.name} here")
    state = load(last)
    check_architecture(state, job.compiled.arch_sha256, last, Code.RESUME)
    changed = recipes.differences(Training.model_validate(state["recipe"]), job.recipe)
    if changed:
        raise InputError(
            Code.RESUME,
            last,
            "resume continues the saved recipe, but these differ: "
            + ", ".join(changed)
            + " (start a new run with another --out to change them)",
        )
    return state


def checkpoint_spec(state: Mapping[str, Any], spec: str | None, path: Path) -> Compiled:
    """The spec a checkpoint was trained from (or `spec`), compiled and checked."""
    spec_path = spec or state["spec"]["path"]
    if not Path(spec_path).is_file():
        raise InputError(
            Code.CHECKPOINT, path, f"was trained from {spec_path}, which is not here; pass --spec"
        )
    compiled = compile_spec(spec_path)
    check_architecture(state, compiled.arch_sha256, path, Code.CHECKPOINT)
    return compiled


def check_classes(data: Dataset, state: Mapping[str, Any], path: Path) -> None:
    trained = list(state["data"]["classes"])
    if list(data.classes) != trained:
        raise InputError(
            Code.DATA,
            path,
            f"was trained on classes {trained[:4]}..., the data set has {list(data.classes)[:4]}...",
        )
