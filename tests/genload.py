"""Import generated source as a module, the way a user would import generated/*.py."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

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


def randomize(model: Any, seed: int = 0) -> None:
    """Weights that keep activations O(1) through any depth (He-uniform, whatever the
    spec's init: with torchvision's std 0.01 the logits would be the last bias alone),
    non-zero biases, and non-trivial batch-norm statistics, so a swapped or missed
    weight shows in the outputs."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                bound = (6.0 / module.weight[0].numel()) ** 0.5
                module.weight.copy_(
                    (torch.rand(module.weight.shape, generator=gen) * 2 - 1) * bound
                )
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if module.weight is not None:  # None: a norm without scale
                    module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def assert_sensitive(out: Any, tolerance: float) -> None:
    """The outputs for a batch's first two images differ by a hundred times `tolerance`
    (relative): an agreement to `tolerance` then covers the whole network, not only its
    last layer's bias (as it did with weights that shrink activations layer by layer)."""
    first, second = np.asarray(out[0], dtype=np.float64), np.asarray(out[1], dtype=np.float64)
    assert np.linalg.norm(second - first) > 100 * tolerance * np.linalg.norm(first)
