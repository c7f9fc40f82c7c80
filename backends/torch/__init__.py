"""The PyTorch backend: IR graph -> one self-contained module that imports only torch."""

from __future__ import annotations

from collections.abc import Collection

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph

from ..common import environment, finish
from ..plan import build_plan
from .viewmodel import ModelView, build_view, head_dropouts

__all__ = [
    "OPTIONS",
    "ModelView",
    "build_view",
    "flattened_outputs",
    "module_paths",
    "render",
    "weight_modules",
]

#: Choices this backend makes when it emits code (`incept compile --opt`); the IR passes
#: are every backend's. separable_maxpool: max pools become SeparableMaxPool2d, which
#: takes exact separable maxima where torch's own kernel is slow (library.py says where).
OPTIONS = ("separable_maxpool",)


def render(graph: Graph, options: Collection[str] = ()) -> str:
    view = build_view(graph, options)
    text = environment(__name__).get_template("module.py.jinja").render(m=view)
    return finish(text)


def module_paths(graph: Graph) -> dict[str, str]:
    """IR node name -> dotted path of the torch submodule that computes it."""
    return build_view(graph).node_paths


def flattened_outputs(graph: Graph) -> frozenset[str]:
    """IR nodes whose module output is their IR shape flattened: the dropouts before the
    classifier, which forward_head() applies after forward_features' flatten."""
    return frozenset(head_dropouts(build_plan(graph)))


def weight_modules(graph: Graph) -> dict[str, dict[str, str]]:
    """IR node -> the submodules holding its weights, by kind: {"conv": ..., "bn": ...}
    (bn only with a norm), {"linear": ...}, {"bn": ...} (a bn layer; none once folded, an
    nn.Identity) or {"depthwise": ..., "pointwise": ..., "bn": ...} (a separable conv)
    (backends/transfer.py's vocabulary). A
    conv unit keeps its Conv2d as `.conv` and its BatchNorm2d as `.bn` (module.py.jinja); a
    conv without norm or activation is an nn.Conv2d; a separable conv with a norm or an
    activation is an nn.Sequential whose first module is the SeparableConv2d."""
    out: dict[str, dict[str, str]] = {}
    for name, path in module_paths(graph).items():
        a = graph.nodes[name].attrs
        if isinstance(a, ops.Linear):
            out[name] = {"linear": path}
        elif isinstance(a, ops.Norm) and not a.folded:  # folded: an identity, no weights
            out[name] = {"bn": path}
        elif isinstance(a, ops.SepConv):
            seq = a.norm is not None or a.act != "none"
            conv = f"{path}.0" if seq else path
            out[name] = {"depthwise": f"{conv}.conv1", "pointwise": f"{conv}.pointwise"}
            out[name].update({"bn": f"{path}.1"} if a.norm else {})
        elif isinstance(a, ops.Conv) and a.norm is None and a.act == "none" and not a.folded:
            out[name] = {"conv": path}
        elif isinstance(a, ops.Conv):
            out[name] = {"conv": f"{path}.conv", **({"bn": f"{path}.bn"} if a.norm else {})}
    return out
