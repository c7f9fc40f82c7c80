"""The one checkpoint path: locate -> read -> check -> build -> load.

A run folder or a checkpoint file is located (a run folder means its last or best
checkpoint), read by its framework's adapter without building anything, checked
(an incept checkpoint, of this spec's architecture), and only then is a model built
and the weights loaded into it. eval, predict, convert, export, resume and
fine-tuning all come through here.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incept.compiler.pipeline import Compiled, compile_spec
from incept.compiler.spec import catalog

from . import frameworks
from .errors import Code, InputError, NotACheckpoint
from .finetune import same_body

if TYPE_CHECKING:
    from .adapter import Adapter, Loaded


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file that was read and checked, not yet loaded into a model."""

    path: Path
    framework: str
    state: dict[str, Any]
    compiled: Compiled

    @property
    def adapter(self) -> Adapter:
        return frameworks.adapter(self.framework, str(self.path))

    @property
    def aux(self) -> bool:
        """Whether it was trained with (and holds) aux heads."""
        return bool(self.state["recipe"].get("aux")) and bool(self.compiled.graph.aux_heads)

    @property
    def folder(self) -> Path:
        """Where its model's source goes: its run folder, else a temporary folder."""
        if self.path.parent.name == "checkpoints":
            return self.path.parent.parent
        return Path(tempfile.gettempdir()) / f"incept-models-{self.framework}"

    def record(self) -> dict[str, str]:
        """Where a run's weights came from, for its config.json and checkpoints."""
        return {"init_from": str(self.path)}

    def load(self, device: str = "auto") -> Loaded:
        return self.adapter.load(self.path, self.state, self.compiled, self.folder, device)


def locate(target: Path, best: bool = False) -> tuple[Path, str]:
    """A checkpoint file, or a run folder's last (or best) one, and its framework."""
    if not target.exists():
        raise InputError(Code.CHECKPOINT, target, "no such run folder or checkpoint file")
    if not target.is_dir():
        return target, frameworks.framework_of(target)
    config = target / "config.json"
    if not config.is_file():
        raise InputError(Code.CHECKPOINT, target, "is not a run folder (no config.json)")
    try:
        framework = str(json.loads(config.read_text(encoding="utf-8")).get("backend", "torch"))
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(Code.CHECKPOINT, config, f"is not readable JSON ({exc})") from None
    if framework not in frameworks.FRAMEWORKS:
        raise InputError(Code.CHECKPOINT, config, f"names an unknown backend {framework!r}")
    name = "best" if best else "last"
    return target / "checkpoints" / f"{name}{frameworks.SUFFIX[framework]}", framework


def read(path: Path, framework: str) -> dict[str, Any]:
    """The checkpoint's state (identity, history, weights as its framework reads them)."""
    return frameworks.adapter(framework, str(path)).read_state(path)


def check_architecture(
    state: Mapping[str, Any], arch_sha256: str, where: object, code: Code
) -> None:
    saved = state["spec"]["arch_sha256"]
    if saved != arch_sha256:
        classes = recorded_classes(state)
        raise InputError(
            code,
            where,
            f"was trained from {state['spec']['path']}"
            + (f" with --num-classes {classes}" if classes else "")
            + f" (architecture {saved[:12]}), which differs from this spec's architecture "
            f"({arch_sha256[:12]})",
        )


def recorded_classes(state: Mapping[str, Any]) -> int | None:
    """The run's --num-classes, where it replaced its spec's count."""
    classes = state["spec"].get("num_classes")
    return int(classes) if classes is not None else None


def spec_of(state: Mapping[str, Any], spec: str | None, path: Path) -> Compiled:
    """The spec a checkpoint was trained from (or `spec`, a path or a model's name),
    at the run's --num-classes, compiled and checked."""
    if spec:
        compiled = compile_spec(spec, num_classes=recorded_classes(state))
    else:
        compiled = _recorded_spec(state, path)
    check_architecture(state, compiled.arch_sha256, path, Code.CHECKPOINT)
    return compiled


def _recorded_spec(state: Mapping[str, Any], path: Path) -> Compiled:
    """The spec file a checkpoint records; where that file is not here (a run of another
    checkout or installation, a relative path from another folder), the model of its
    name on the catalog's search path, if that has the recorded architecture."""
    recorded = str(state["spec"]["path"])
    classes = recorded_classes(state)
    if Path(recorded).is_file():
        return compile_spec(recorded, num_classes=classes)
    name = Path(recorded).stem if Path(recorded).suffix.lower() in (".yaml", ".yml") else recorded
    found = catalog.find(name)
    if found is not None:
        compiled = compile_spec(str(found), num_classes=classes)
        if compiled.arch_sha256 == state["spec"]["arch_sha256"]:
            return compiled
    raise InputError(
        Code.CHECKPOINT, path, f"was trained from {recorded}, which is not here; pass --spec"
    )


def read_checkpoint(target: str, best: bool) -> tuple[Path, str, dict[str, Any]] | Path:
    """A run folder's or checkpoint file's (path, framework, state), or the path of a
    file that is no incept checkpoint (plain weights)."""
    path, framework = locate(Path(target), best)
    if path.suffix.lower() in (".h5", ".hdf5"):  # Keras weights, never a checkpoint
        return path
    try:
        return path, framework, read(path, framework)
    except NotACheckpoint:
        return path


def open_init_checkpoint(
    path: Path, framework: str, state: dict[str, Any], compiled: Compiled
) -> Checkpoint:
    """The checkpoint a new run of `compiled` starts from: of the same architecture, or
    of one that differs only in its class count (the classifiers then start fresh)."""
    if state["spec"]["arch_sha256"] == compiled.arch_sha256:
        return Checkpoint(path, framework, state, compiled)
    source = spec_of(state, None, path)  # the spec it was trained from
    if not same_body(source.graph, compiled.graph):
        raise InputError(
            Code.CHECKPOINT,
            path,
            f"was trained from {state['spec']['path']}, whose architecture differs from this "
            "spec's in more than num_classes",
        )
    return Checkpoint(path, framework, state, source)


def open_checkpoint(target: str | Path, spec: str | None = None, best: bool = False) -> Checkpoint:
    """Locate, read and check: everything short of building the model."""
    path, framework = locate(Path(target), best)
    state = read(path, framework)
    return Checkpoint(path, framework, state, spec_of(state, spec, path))


def load(
    target: str | Path, spec: str | None = None, device: str = "auto", best: bool = False
) -> Loaded:
    """A run folder's or checkpoint's model, built and loaded, in eval mode."""
    return open_checkpoint(target, spec, best).load(device)
