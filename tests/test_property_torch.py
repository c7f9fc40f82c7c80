"""Property: for random valid specs, the generated torch module is what the IR predicts,
node by node: output shapes through forward hooks, parameter counts per submodule.
Also for inherited specs (a chain of files extending each other, compiled from the leaf)
and for specs whose every template is residual."""

from __future__ import annotations

import itertools
import math
import tempfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from genload import torch_module  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from regress import saving_failures  # noqa: E402
from specgen import (  # noqa: E402
    examples,
    inherited_specs,
    resolve_chain,
    specs,
    write_chain,
    write_spec,
)

from incept.backends.torch import flattened_outputs, module_paths  # noqa: E402
from incept.compiler.pipeline import build_graph  # noqa: E402

_names = itertools.count()
#: Each example renders, imports, builds (twice) and runs a model: fewer than the
#: profile's 50 by default; the thorough profile draws as many as before or more.
MODEL_EXAMPLES = examples(20, 500)


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_module_matches(graph, directory: Path) -> None:
    module = torch_module(graph, directory, f"gen_prop_{next(_names)}")
    aux = bool(graph.aux_heads)
    model = module.build(aux_logits=aux)
    assert _n_params(model) == graph.params(aux=aux)
    assert _n_params(module.build(aux_logits=False)) == graph.params(aux=False)

    paths = module_paths(graph)
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    for path in set(paths.values()):
        modules[path].register_forward_hook(
            lambda _m, _i, out, path=path: shapes.__setitem__(path, tuple(out.shape))
        )
    batch = 2  # train-mode batch norm needs more than one value per channel
    out = model.train()(torch.randn(batch, *graph.input.shape))
    logits = out[0] if aux else out
    assert tuple(logits.shape) == (batch, *graph.output.shape)
    flat = flattened_outputs(graph)  # dropouts forward_head applies after the flatten
    for name, path in paths.items():
        node = graph.nodes[name]
        shape = (math.prod(node.shape),) if name in flat else node.shape
        assert shapes[path] == (batch, *shape), name
        if node.op not in ("concat", "add"):  # a block's output: its module is the block
            assert _n_params(modules[path]) == node.params, name


@settings(max_examples=MODEL_EXAMPLES)
@given(spec=specs())
def test_torch_module_matches_ir(spec):
    with saving_failures(spec, "torch"), tempfile.TemporaryDirectory() as tmp:
        graph = build_graph(write_spec(spec, Path(tmp) / "spec.yaml"))
        assert_module_matches(graph, Path(tmp))


@settings(max_examples=examples(10, 100))
@given(spec=specs(residuals=1.0))
def test_residual_torch_module_matches_ir(spec):
    """Every template residual: adds, projections, repeats, node by node as above."""
    with saving_failures(spec, "torch-residual"), tempfile.TemporaryDirectory() as tmp:
        graph = build_graph(write_spec(spec, Path(tmp) / "spec.yaml"))
        assert any(node.op == "add" for node in graph.nodes.values())
        assert_module_matches(graph, Path(tmp))


@settings(max_examples=MODEL_EXAMPLES)
@given(chain=inherited_specs())
def test_torch_module_matches_ir_inherited(chain):
    # A failure is saved as the merged spec: one file, the same model.
    with (
        saving_failures(resolve_chain(chain), "torch-inherited"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        graph = build_graph(write_chain(chain, Path(tmp)))
        assert_module_matches(graph, Path(tmp))
