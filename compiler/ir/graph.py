"""The IR: a graph of named nodes grouped into the spec's rows.

Nodes are in topological order. Every node keeps the spec location it came from,
so a pass that finds a problem can say where. Rows keep the spec's structure
(which template, which arguments, which branches) for backends that emit one
class per block template and one constructor line per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import Loc
from .ops import Op, Shape


@dataclass(frozen=True)
class Node:
    name: str  # unique and stable: "<row>_<layer>", e.g. inception_3a_3x3_reduce
    attrs: Op
    inputs: tuple[str, ...]
    loc: Loc
    row: str  # the row or aux head the node belongs to
    branch: str | None = None  # the template branch, for nodes inside a block
    layer: str | None = None  # the layer's name inside its row ("3x3_reduce")
    out_ref: str | None = None  # the template parameter that set `out`, if any
    # Outside the branches: "after" (layers on the merged branches) or "shortcut".
    part: str | None = None
    # Filled by shape inference:
    shape: Shape | None = None
    params: int = 0
    macs: int = 0

    @property
    def op(self) -> str:
        return self.attrs.op


@dataclass(frozen=True)
class Row:
    """One line of the layer table: a single layer or a block instance."""

    name: str
    op: str  # a primitive op or a template name
    nodes: tuple[str, ...]
    input: str  # the node that feeds the row
    output: str  # the node whose value leaves the row
    loc: Loc
    template: str | None = None
    args: Mapping[str, int | float | str] = field(default_factory=dict)
    declared: tuple[int, int, int] | None = None  # the spec's `output`, as (C, H, W)
    paper_params: float | None = None  # in absolute units
    paper_ops: float | None = None
    tap: str | None = None  # aux heads: the row whose output they read
    loss_weight: float | None = None
    #: Instances of the block in a row (`repeat:`), one after another: `nodes` holds them
    #: in order, the same number each; instance i's nodes are named `<row>_<i>_<layer>`.
    repeat: int = 1

    def instance(self, index: int = 0) -> tuple[str, ...]:
        """The nodes of one instance of a repeated row (the whole row if it does not repeat)."""
        size = len(self.nodes) // self.repeat
        return self.nodes[index * size : (index + 1) * size]


@dataclass(frozen=True)
class Template:
    """A block template as the spec wrote it: parameters and branch names."""

    name: str
    doc: str
    params: tuple[str, ...]
    branches: tuple[str, ...]
    loc: Loc
    layout: str = "branches"  # torch module layout: "branches" or "flat" (one attribute per layer)
    after: tuple[str, ...] = ()  # layers applied to the merged branches
    residual: bool = False  # the block ends in a residual add (its `output` node)
    shortcut: tuple[str, ...] = ()  # the residual's projection layers; () = identity
    scale_ref: str | None = None  # the parameter giving the residual's scale, if one does
    act_ref: str | None = None  # the parameter giving the activation after the add


@dataclass(frozen=True)
class InitScheme:
    weights: str  # caffe_xavier | trunc_normal | default
    std: float
    bias: float | None


@dataclass(frozen=True)
class Graph:
    name: str
    class_name: str
    description: str
    spec_path: str
    spec_sha256: str
    num_classes: int
    aux_logits: bool
    init: InitScheme
    nodes: Mapping[str, Node]
    rows: tuple[Row, ...]
    aux_heads: tuple[Row, ...]
    templates: Mapping[str, Template]
    #: The optimization passes applied (compiler/passes OPTIMIZATIONS), in order; () = none.
    optimized: tuple[str, ...] = ()
    #: The torch module takes transform_input (the spec's input.transform_input).
    transform_input: bool = False

    @property
    def input(self) -> Node:
        return next(iter(self.nodes.values()))

    @property
    def output(self) -> Node:
        return self.nodes[self.rows[-1].output]

    def row_nodes(self, row: Row) -> list[Node]:
        return [self.nodes[n] for n in row.nodes]

    def readers(self) -> dict[str, list[Node]]:
        """Each node's name -> the nodes that take it as an input, in graph order."""
        out: dict[str, list[Node]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for source in node.inputs:
                out.setdefault(source, []).append(node)  # the verifier reports a dangling one
        return out

    def params(self, aux: bool = False) -> int:
        return sum(self._total(aux, "params"))

    def macs(self, aux: bool = False) -> int:
        return sum(self._total(aux, "macs"))

    def _total(self, aux: bool, what: str) -> list[int]:
        rows = [*self.rows, *(self.aux_heads if aux else ())]
        return [getattr(self.nodes[n], what) for row in rows for n in row.nodes]
