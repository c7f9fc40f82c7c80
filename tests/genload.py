"""Import generated source as a module, the way a user would import generated/*.py."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from incept.compiler.ir.graph import Graph
from incept.compiler.pipeline import build_graph

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def import_source(source: str, name: str, directory: Path) -> ModuleType:
    """Write `source` to `directory/name.py` and import it (tracebacks then show real lines)."""
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def torch_module(
    graph: Graph, directory: Path, name: str = "gen_torch", options: tuple[str, ...] = ()
) -> ModuleType:
    """The torch backend's module for `graph`, with its emit `options` (separable_maxpool)."""
    from incept.backends import torch as torch_backend

    return import_source(torch_backend.render(graph, options), name, directory)


def shipped(name: str) -> Graph:
    return build_graph(SPECS / name)


#: Shipped specs whose classifier pools adaptively, at the smallest input that keeps
#: every map of the last stage 3x3 or more (the 299x299 family at 139: 2.2 GMACs for
#: Inception-v4 instead of 12.2). inception-v3's aux head needs 17x17 at Mixed_6e, so
#: it stays at 299; the other specs have fixed-size pools or are small already.
REDUCED = {
    "googlenet-torchvision.yaml": 96,
    "inception-resnet-v1.yaml": 139,
    "inception-resnet-v2.yaml": 139,
    "inception-resnet-v2-keras.yaml": 139,
    "inception-v3-keras.yaml": 139,
    "inception-v4.yaml": 139,
    "xception.yaml": 139,
    "xception-keras.yaml": 139,
}


def reduced(name: str, directory: Path, optimize: tuple[str, ...] = ()) -> Graph:
    """The shipped spec `name` at its REDUCED input size and SHALLOW depth (one `extends:`
    away, declared outputs dropped), for tests whose subject does not depend on the input
    size or on how often a block repeats: the passes' equivalence, the exporters, the
    backends' agreement. Every kind of layer, branch and block of the full network is
    there, and each repeated one twice (a loop of two instances, two middle-flow rows);
    the full-depth networks are proven against timm and keras.applications elsewhere."""
    return build_graph(reduced_spec(name, directory), optimize=list(optimize))


#: How often a repeated block runs in a reduced spec: twice keeps the loop (and the
#: instance-numbered state_dict keys) that one instance would not exercise.
SHALLOW = 2


@functools.cache
def shallow_patches(name: str) -> tuple[str, int]:
    """`patch:` items (YAML) that cut `name`'s repeats to SHALLOW: `repeat: n` rows, and
    runs of identical block rows (Xception's eight middle-flow rows) past their first
    SHALLOW; and the spec's input size. Exporting and tracing time grows with the depth,
    not the coverage. Read once per spec and session."""
    from incept.compiler.spec.load import load_spec

    spec, _ = load_spec(SPECS / name)
    tapped = {head.tap for head in spec.aux_heads or ()}
    items, run, previous = [], 0, None
    for row in spec.layers:
        if getattr(row, "repeat", 1) > SHALLOW:
            items.append(f"  - {{row: {row.name}, set: {{repeat: {SHALLOW}}}}}\n")
        body = row.model_dump(exclude={"name", "output", "paper"}, exclude_none=True)
        run = run + 1 if body == previous and row.op in (spec.blocks or {}) else 1
        previous = body
        if run > SHALLOW and row.name not in tapped:
            items.append(f"  - {{row: {row.name}, delete: true}}\n")
    return "".join(items), spec.input.size


def reduced_spec(name: str, directory: Path) -> Path:
    """The file of `reduced(name)`: a spec written in `directory`, or the shipped one."""
    patches, size = shallow_patches(name)
    if name not in REDUCED and not patches:
        return SPECS / name
    return resized_spec(name, REDUCED.get(name, size), directory, patches=patches)


def resized_spec(name: str, size: int, directory: Path, more: str = "", patches: str = "") -> Path:
    """The shipped spec `name` at size x size, one `extends:` (by name) away, declared
    outputs dropped, then `patches` (patch items), `more` YAML appended; written in
    `directory`."""
    stem = name.removesuffix(".yaml")
    path = directory / f"{stem}-{size}-{len(more)}-{len(patches)}.yaml"
    path.write_text(
        f"extends: {stem}\ninput: {{size: {size}}}\npatch:\n  - {{row: '*', unset: [output]}}\n"
        + patches
        + more
    )
    return path
