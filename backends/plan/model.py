"""The plan's data model: what a generated module contains, in no framework's syntax."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row, Template
from incept.compiler.ir.shapes import Dim

Layout = Literal["sequence", "branches", "flat"]
# A block's input channel count (torch passes it, Keras infers it). Not an identifier, so
# no template parameter can be mistaken for it.
IN_CHANNELS = "<in_channels>"


@dataclass(frozen=True)
class Chan:
    """A channel count as generated code writes it: literals and parameter names, summed."""

    terms: tuple[int | str, ...]

    @property
    def symbol(self) -> str | None:
        """The parameter name when the count is exactly one parameter."""
        only = self.terms[0] if len(self.terms) == 1 else None
        return only if isinstance(only, str) else None

    def render(self, name: Callable[[str], str] = str) -> str:
        """`64`, `ch3x3` or `ch1x1 + ch3x3 + ...`, parameters spelled by `name`."""
        return " + ".join(name(t) if isinstance(t, str) else str(t) for t in self.terms)


@dataclass
class Param:
    """A block argument: a template parameter (`arg`), a model constructor argument such
    as num_classes (`global`), or a value that differs between the block's rows (`derived`,
    named `<layer>_<hint>`, one value per row)."""

    name: str
    kind: Literal["arg", "global", "derived"]
    values: tuple[object, ...] = ()


@dataclass(frozen=True)
class Column:
    """One layer of a block template, seen in every row that instantiates it."""

    index: int
    nodes: tuple[Node, ...]  # the layer's node in each row, in row order
    cin: Chan | None  # None: not a channel count (flat features after a flatten)
    cout: Chan | None
    shape: tuple[Dim, ...] | None  # for comments; None when the rows disagree

    @property
    def node(self) -> Node:
        return self.nodes[0]


@dataclass
class BlockPlan:
    """One class (torch) or function (Keras) shared by every row of a template."""

    template: Template
    layout: Layout  # sequence: one branch; flat: one attribute per layer
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    params: list[Param]

    def derive(self, column: Column, hint: str, values: list[object]) -> object:
        """The one value every row agrees on, else a `derived` parameter carrying each row's."""
        if len(set(values)) == 1:
            return values[0]
        name = f"{column.node.layer or f'layer{column.index}'}_{hint}"
        for param in self.params:
            if param.name == name:
                return param
        param = Param(name, "derived", tuple(values))
        self.params.append(param)
        return param

    def parts(self, column: Column) -> list[Column]:
        """The slices of a fused convolution (fuse_siblings), in channel order; else []."""
        name = column.node.name
        return [c for c in self.columns if c.node.op == "slice" and c.node.inputs == (name,)]

    def arguments(self, row: int) -> list[tuple[Param, object]]:
        """Each parameter with its value for row number `row` (globals pass through: None)."""
        out: list[tuple[Param, object]] = []
        for p in self.params:
            if p.kind == "arg":
                out.append((p, self.rows[row].args[p.name]))
            else:
                out.append((p, p.values[row] if p.kind == "derived" else None))
        return out


@dataclass(frozen=True)
class ConvUnit:
    """The helper applying Conv2d, an optional batch norm and an optional ReLU. The first
    convolution of its kind sets the defaults the others override (bias, eps, momentum).
    `folded`: the norm was folded into the convolution (fold_bn); `norm` keeps its eps."""

    bn: bool
    relu: bool
    folded: bool
    scale: bool  # the norm learns a scale (False: keras' `scale=False`)
    norm: ops.BatchNorm | None

    @property
    def bias(self) -> bool:
        return not self.bn


@dataclass(frozen=True)
class RowPlan:
    """One row of the main path or one aux head."""

    row: Row
    node: Node  # the node whose value leaves the row
    block: BlockPlan | None  # None: a single layer
    index: int  # the row's position in block.rows
    cin: Chan | None
    cout: Chan | None
    shape: tuple[Dim, ...] | None
    taps: tuple[Row, ...] = ()  # aux heads that read this row's output


@dataclass
class ModulePlan:
    graph: Graph
    units: dict[tuple[bool, bool, bool, bool], ConvUnit]
    blocks: list[BlockPlan]
    rows: list[RowPlan]
    aux: list[RowPlan]
    globals: list[str] = field(default_factory=list)  # model constructor arguments blocks use

    def unit(self, conv: ops.Conv) -> ConvUnit:
        return self.units[unit_key(conv)]


def unit_key(conv: ops.Conv) -> tuple[bool, bool, bool, bool]:
    scale = conv.norm.scale if conv.norm else True
    return conv.norm is not None, conv.act == "relu", conv.folded is not None, scale
