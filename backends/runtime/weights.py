"""What `incept train --init-from`, `incept eval` and `incept predict` read: a run folder
or incept checkpoint (checkpoints.py), or weights that are no incept checkpoint: a
library's pretrained weights ("torchvision", "timm", "keras") or a plain weights file (a
torch state_dict, a Keras .keras/.h5 file), which pretrained.py reads into a model the
runtime built. Such weights carry no run identity, so what a
checkpoint records is supplied here: the input normalisation the weights expect (the
library model's, pretrained.Reference) and the names of their classes.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from incept.compiler.ir.graph import Graph
from incept.compiler.pipeline import Compiled, compile_spec

from . import frameworks, pretrained
from .checkpoints import Checkpoint, open_init_checkpoint, read_checkpoint, spec_of
from .errors import Code, InputError
from .pretrained import IMAGENET_MEAN, IMAGENET_STD, LIBRARIES, Reference, Target, is_library

if TYPE_CHECKING:
    from .adapter import Loaded

#: The weights files Keras reads (anything else is read as a torch state_dict).
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass(frozen=True)
class Weights:
    """A library source or a weights file, checked to have a model of the spec's layout
    (a library) or to exist (a file), not yet read."""

    source: str  # a library's name, or the file's absolute path
    compiled: Compiled  # the spec the weights are for
    where: str  # the flag or argument that named them, for messages

    @property
    def graph(self) -> Graph:
        return self.compiled.graph

    @property
    def library(self) -> bool:
        return is_library(self.source)

    @property
    def framework(self) -> str:
        """The backend that reads them without a transfer."""
        if self.library:
            return "keras" if self.source == "keras" else "torch"
        return "keras" if Path(self.source).suffix.lower() in KERAS_SUFFIXES else "torch"

    @property
    def reference(self) -> Reference | None:
        """The library model whose weights these are; for a file, the spec's one library
        model, if it has exactly one (a file of such a spec most likely holds its weights)."""
        table = pretrained.SOURCES.get(self.graph.name, {})
        if self.library:
            return table[self.source]
        return next(iter(table.values())) if len(table) == 1 else None

    def record(self) -> dict[str, str]:
        """Where a run's weights came from, for its config.json and checkpoints."""
        out = {"init_from": self.source}
        if self.library and self.reference:
            out["init_from_model"] = self.reference.name
        return out

    def load_into(self, model: Any, backend: str, *, aux: bool, fresh_classifiers: bool) -> None:
        """The weights into `model`, a model of the spec built by the runtime (without
        transform_input: input_stats accounts for it)."""
        source: str | Path = self.source if self.library else Path(self.source)
        target = Target.of(self.graph, backend)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)  # the classifiers left fresh
            pretrained.load_into(
                model, source, target, aux, where=self.where, fresh_classifiers=fresh_classifiers
            )
        for warning in caught:  # one line each, as the commands' errors are
            click.echo(f"warning: {warning.message}", err=True)

    def load(self, device: str) -> Loaded:
        """A model of the spec holding the weights, in eval mode, for `incept eval` and
        `incept predict`: the weights' own classifier (a spec of another class count is
        refused), their input normalisation and class names in place of a run's."""
        mean, std = self.input_stats()
        state = {
            "spec": {"path": self.graph.spec_path, "name": self.graph.name},
            "recipe": {"aux": False},
            "data": {"classes": self.class_names(), "mean": list(mean), "std": list(std)},
        }
        framework = self.framework
        folder = Path(tempfile.gettempdir()) / f"incept-models-{framework}"

        def fill(model: Any) -> None:
            self.load_into(model, framework, aux=False, fresh_classifiers=False)

        return frameworks.adapter(framework, self.where).load_with(
            self.compiled, state, folder, device, fill
        )

    def input_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The (mean, std) per channel on [0, 1] the weights expect: the library model's
        (with torchvision's transform_input folded in); for a file of no known library,
        ImageNet's for RGB and (0.5, 0.5) for other channel counts."""
        channels = self.graph.input.shape[0]  # type: ignore[index]
        mean: tuple[float, ...]
        std: tuple[float, ...]
        if self.reference is not None and channels == 3:
            mean, std = self.reference.input_stats(transform_input=False)
        elif channels == 3:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            mean, std = (0.5,) * channels, (0.5,) * channels
        return mean, std

    def class_names(self) -> list[str]:
        """The classes' names: ImageNet-1k's for the library models' 1,000 classes (from
        torchvision's weights metadata, the order all three libraries use), else indices."""
        count = self.graph.num_classes
        reference = self.reference
        if (
            reference is not None
            and reference.classes == "imagenet-1k"
            and count == reference.num_classes
        ):
            names = _imagenet_names()
            if names is not None:
                return names
        return [str(i) for i in range(count)]


def _imagenet_names() -> list[str] | None:
    try:
        from torchvision.models import get_model_weights
    except ImportError:
        return None
    names: list[str] = list(get_model_weights("googlenet").DEFAULT.meta["categories"])
    return names


def open_weights(source: str, compiled: Compiled, where: str) -> Weights:
    """`source` as weights for the compiled spec: a library with a model of its layout
    (one line naming the specs it fits otherwise), or an existing file."""
    if is_library(source):
        # one line if the library has no model of this spec's layout
        pretrained.reference_of(source, compiled.graph.name, where)
        return Weights(source, compiled, where)
    path = Path(source)
    if not path.is_file():
        raise InputError(
            Code.PRETRAINED,
            where,
            f"not a source ({', '.join(LIBRARIES)}), weights file or run folder",
        )
    return Weights(str(path.resolve()), compiled, where)


def open_init_source(target: str, compiled: Compiled) -> Checkpoint | Weights:
    """What a new run of `compiled` starts from: a library's weights or a weights file
    for its spec, or a checkpoint of the same architecture or of one that differs only
    in its class count (the classifiers then start fresh)."""
    where = f"--init-from {target}"
    if is_library(target):
        return open_weights(target, compiled, where)
    if not Path(target).exists():
        raise InputError(
            Code.FLAG,
            where,
            f"not a source ({', '.join(LIBRARIES)}) and no such run folder, checkpoint "
            "or weights file",
        )
    found = read_checkpoint(target, best=False)
    if isinstance(found, Path):
        return open_weights(str(found), compiled, where)
    return open_init_checkpoint(*found, compiled)


def open_source(target: str, spec: str | None, best: bool) -> Checkpoint | Weights:
    """What `incept eval` and `incept predict` run: a run folder or checkpoint (its spec
    as recorded, or `spec`), or a library source or weights file with `spec` (required)."""
    found = None if is_library(target) else read_checkpoint(target, best)
    if isinstance(found, tuple):
        path, framework, state = found
        return Checkpoint(path, framework, state, spec_of(state, spec, path))
    if not spec and found is None:
        raise InputError(
            Code.FLAG,
            "--spec",
            f"{target} is a library source: name the spec its weights are for (--spec NAME|PATH)",
        )
    if not spec:
        raise InputError(
            Code.CHECKPOINT,
            found,
            "not an incept checkpoint; as a weights file it needs --spec, the spec they are for",
        )
    source = target if found is None else str(found)
    return open_weights(source, compile_spec(spec), target)
