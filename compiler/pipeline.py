"""spec (a file, a model name or a mapping) -> validated spec -> IR -> passes: the front
half of every command and of the Python API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from .ir.graph import Graph
from .ir.lower import lower
from .passes import run_passes
from .spec.load import SpecInput, read_spec, validate
from .spec.schema import Spec
from .spec.source import Source

#: Called with each stage's name and verified graph (passes.run_passes).
StageHook = Callable[[str, Graph], None]


def build_graph(
    path: SpecInput, after: StageHook | None = None, optimize: Collection[str] = ()
) -> Graph:
    """Load, validate, lower, infer (and optimize); raise SpecError on the first problem."""
    return compile_spec(path, after, optimize).graph


@dataclass(frozen=True)
class Compiled:
    """A checked spec and its IR: what the runtime needs to build and train a model."""

    spec: Spec
    graph: Graph

    @property
    def arch_sha256(self) -> str:
        """A fingerprint of the architecture: the resolved spec without its `training:`
        recipe, as canonical JSON. Comments, layout, key order and recipe edits leave it
        unchanged; any change to what the model computes changes it."""
        data = self.spec.model_dump(mode="json", exclude={"training"})
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def compile_spec(
    path: SpecInput,
    after: StageHook | None = None,
    optimize: Collection[str] = (),
    num_classes: int | None = None,
) -> Compiled:
    """Like build_graph, keeping the validated spec (its recipe) beside the graph.
    `num_classes` replaces the spec's (classes_mismatch says whether its classifier
    followed)."""
    source = read_spec(path)
    if num_classes is not None:
        source = with_num_classes(source, num_classes)
    return compile_source(source, after, optimize)


def with_num_classes(source: Source, num_classes: int) -> Source:
    """The spec with `num_classes` set: its own hash, its other values and positions
    kept. The spec's own count gives the spec unchanged."""
    if isinstance(source.data, dict) and source.data.get("num_classes") == num_classes:
        return source
    data = {**source.data, "num_classes": num_classes}
    digest = hashlib.sha256(f"{source.sha256}\nnum_classes={num_classes}".encode()).hexdigest()
    return replace(source, data=data, sha256=digest)


def classes_mismatch(graph: Graph, num_classes: int) -> str | None:
    """Why `graph` does not end in `num_classes` classes (a classifier of a literal
    width ignores the spec's num_classes), or None."""
    if tuple(graph.output.shape or ()) == (num_classes,):
        return None
    return (
        f"its last row gives {graph.output.shape}, not num_classes = {num_classes}: write "
        "the classifier's width as $num_classes to change it"
    )


def compile_source(
    source: Source, after: StageHook | None = None, optimize: Collection[str] = ()
) -> Compiled:
    """compile_spec for a spec already read and resolved (spec.load.read_spec)."""
    spec = validate(source)
    return Compiled(spec, run_passes(lower(spec, source), after, optimize))
