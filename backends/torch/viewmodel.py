"""ModulePlan -> the torch view-model: what the template prints, in torch's spelling.

Each row is a model attribute named after the row; a conv layer is a unit module
(`.conv`, `.bn`) that applies its activation; one class per block template, whose
channel counts stay symbolic (`ch3x3red`), so the model's constructor reads like
Table 1: `Inception(192, 64, 96, 128, 16, 32, 32)`. Block layouts: blocks.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row
from incept.compiler.ir.lower import camel_case
from incept.compiler.ir.shapes import batch_comment

from ..common import Namespace, float_literal, opt_flag, optimized, py_text, snake_case, spec_label
from ..library_copy import definitions
from ..plan import (
    IN_CHANNELS,
    BlockPlan,
    Chan,
    Column,
    ConvUnit,
    ModulePlan,
    Param,
    RowPlan,
    build_plan,
)
from ..plan.model import unit_key
from .blocks import (
    ARG_RESERVED,
    LOCAL_RESERVED,
    MODULE_RESERVED,
    BlockClass,
    Member,
    block_class,
    folded_norms,
)
from .layers import Call, Step, UnitView, constructor, linear_relu, unit_view

#: This backend's package: generated files carry definitions from its library.py.
PACKAGE = __name__.rpartition(".")[0]
#: The library.py helpers a model needs: after fold_bn, after fuse_siblings, with separable_maxpool.
FOLD_BN = ("_fold_norm", "_fold_bn")
FOLD_NORMS = ("_fold_norm", "_fold_norms")  # after fold_bn folded a bn layer into a sepconv
LOAD_UNFUSED = ("_load_unfused",)
SEPARABLE = ("_running_max", "_eager", "SeparableMaxPool2d")
NO_SCALE = ("BatchNorm2dNoScale",)
SEPCONV = ("SeparableConv2d",)

CLASS_RESERVED = frozenset(
    {"NamedTuple", "Tensor", "build", "NUM_CLASSES", "AUX_LOGITS", "SeparableMaxPool2d"}
    | {"BatchNorm2dNoScale", "SeparableConv2d"}
)


@dataclass
class Aux:
    attr: str
    var: str
    cls: str  # the head's class, for the attribute's type
    call: Call
    loss_weight: float
    fc: str = ""  # the head's last linear layer, as an expression under the head: `.fc`
    fc_in: int = 0  # its input features
    fc_bias: bool = True


@dataclass
class Classifier:
    """The main path's last linear layer, which reset_classifier() replaces."""

    attr: str
    in_features: int
    bias: bool
    comment: str


@dataclass
class ModelView:
    spec: str
    sha256: str
    description: str
    class_name: str
    outputs_class: str
    units: list[UnitView]
    blocks: list[BlockClass]
    members: list[Member]
    forward: list[Step]  # forward_features(): every row before the classifier's dropouts
    head: list[Step]  # forward_head(): the dropouts before the classifier
    classifier: Classifier | None  # None: the model does not end with a linear layer
    features_comment: str  # forward_features' output, "N x 1024"
    transform_input: bool  # the constructor takes transform_input (torchvision's input range)
    aux: list[Aux]
    num_classes: int
    aux_logits: bool
    init: dict[str, object]
    input_size: str  # "3x224x224"
    input_comment: str  # "N x 3 x 224 x 224"
    uses_relu: bool
    node_paths: dict[str, str]
    optimized: tuple[str, ...]  # the optimization passes applied, then the options asked for
    opt_flag: str  # ` --opt a,b` for the header's compile command, or ""
    separable: bool  # some max pool is a SeparableMaxPool2d (option separable_maxpool)
    library: list[str]  # the source of the library.py helpers the model uses, in order
    noscale: bool  # some batch norm has no learned scale (BatchNorm2dNoScale)
    # fold_bn: the model's own bn layers folded into separable convs (BlockClass.folded)
    folded: dict[str, tuple[str, str]]


class _Builder:
    def __init__(self, plan: ModulePlan, options: Collection[str]) -> None:
        self.plan = plan
        self.options = tuple(options)
        graph = plan.graph
        self.readers = graph.readers()
        # Template parameters become constructor arguments: no class may take their names.
        arguments = {p for t in graph.templates.values() for p in t.params}
        reserved = CLASS_RESERVED | arguments | {graph.class_name, f"{graph.class_name}Outputs"}
        self.classes = Namespace(reserved)
        grouped = {
            unit_key(n.attrs)
            for n in graph.nodes.values()
            if isinstance(n.attrs, ops.Conv) and n.attrs.groups != 1
        }
        self.units = {  # a bare convolution is an nn.Conv2d, no unit (timm's `conv2d`)
            key: replace(unit_view(self.classes(_unit_name(u)), u), grouped=key in grouped)
            for key, u in plan.units.items()
            if u.bn or u.relu or u.folded
        }
        self.node_paths: dict[str, str] = {}

    def ctor(self, col: Column, name: dict[str, str], block: BlockPlan) -> Call:
        """A block layer's constructor, its channels spelled with the class's argument names."""

        def spell(chan: Chan | None) -> str:
            if chan is None:
                return ""
            return chan.render(lambda t: "in_channels" if t == IN_CHANNELS else name.get(t, t))

        if isinstance(col.node.attrs, ops.Slice):  # no module: its channel count
            return Call("slice", (spell(col.cout),))
        cin = spell(col.cin)
        if col.cin is None and isinstance(col.node.attrs, ops.Linear):  # after a flatten
            features = [n.attrs.in_features for n in col.nodes if isinstance(n.attrs, ops.Linear)]
            value = block.derive(col, "in_features", list(features))
            cin = value.name if isinstance(value, Param) else str(value)
        return self.layer(col.node, cin, spell(col.cout), col.nodes)

    def layer(self, node: Node, cin: str, cout: str, alike: tuple[Node, ...] | None = None) -> Call:
        """`alike`: the nodes one module stands for (a block layer in every row)."""
        conv = node.attrs if isinstance(node.attrs, ops.Conv) else None
        unit = self.units.get(unit_key(conv)) if conv else None
        separable = "separable_maxpool" in self.options
        in_place = all(self.overwritable(n.inputs[0]) for n in alike or (node,))
        return constructor(node, unit, cin, cout, separable=separable, in_place=in_place)

    def overwritable(self, value: str) -> bool:
        """A ReLU layer may overwrite its input where nothing else reads it: not a block's
        input (its shortcut reads it too), nor a slice (a view of a fused convolution)."""
        node = self.plan.graph.nodes[value]
        return len(self.readers[value]) == 1 and not isinstance(node.attrs, ops.Slice | ops.Input)

    def block(self, block: BlockPlan) -> tuple[BlockClass, list[Call]]:
        names = Namespace(ARG_RESERVED)
        spelled: dict[str, str] = {p.name: names(p.name, prefix="arg_") for p in block.params}

        def arg(p: Param) -> str:
            return spelled.get(p.name) or p.name

        cls_name = self.classes(camel_case(block.template.name))
        cls = block_class(cls_name, block, arg, lambda col: self.ctor(col, spelled, block))
        calls = []
        for r, row in enumerate(block.rows):
            self._paths(block, cls, r)
            cin = self.plan.graph.nodes[row.input].shape
            values = [str(cin[0]) if cin else ""]
            for p, v in block.arguments(r):
                if p.kind == "arg":
                    values.append(_literal(v))
                else:  # a derived value, or a global: the model constructor's argument
                    values.append(f"{arg(p)}={p.name if v is None else v}")
            call = Call(cls.name, tuple(values))
            if row.repeat > 1:  # one nn.Sequential of instances: keys <row>.<i>.<...>
                inner = f"{cls.name}({', '.join(values)})"
                call = Call("nn.Sequential", (f"*[{inner} for _ in range({row.repeat})]",))
            calls.append(call)
        return cls, calls

    def _paths(self, block: BlockPlan, cls: BlockClass, r: int) -> None:
        """Each node's module path; instance i of a repeated row lives at `<row>.<i>`."""
        row = block.rows[r]
        size = len(row.nodes) // row.repeat
        for k in range(row.repeat):
            base = row.name if row.repeat == 1 else f"{row.name}.{k}"
            for i, path in cls.paths.items():
                self.node_paths[row.nodes[k * size + i]] = f"{base}.{path}"
        self.node_paths.setdefault(row.output, row.name)

    def build(self) -> ModelView:
        g, plan = self.plan.graph, self.plan
        blocks, calls = [], {}
        for block in plan.blocks:
            cls, row_calls = self.block(block)
            blocks.append(cls)
            calls.update({row.name: c for row, c in zip(block.rows, row_calls, strict=True)})
        attrs, local = Namespace(MODULE_RESERVED), Namespace(LOCAL_RESERVED)
        aux = [
            self.aux_view(h, attrs(h.row.name), local(snake_case(h.row.name)), calls)
            for h in plan.aux
        ]
        by_name = {h.row.name: a for h, a in zip(plan.aux, aux, strict=True)}
        members: list[Member] = []
        forward: list[Step] = []
        head: list[Step] = []
        cut = _head_start(plan.rows)
        for i, row in enumerate(plan.rows):
            attr = attrs(row.row.name)
            members.append(Member(attr, calls.get(row.row.name) or self.row_layer(row)))
            relu = row.block is None and linear_relu(row.node)
            step = Step("x", attr, relu=relu, comment=batch_comment(row.shape))
            (forward if i < cut or not isinstance(row.node.attrs, ops.Dropout) else head).append(
                step
            )
            if row.block is None:
                self.node_paths[row.node.name] = attr
            for tap in row.taps:
                forward.append(Step(by_name[tap.name].var, by_name[tap.name].attr, aux=True))
        for h in g.aux_heads:
            self.node_paths.setdefault(h.output, h.name)
        classifier = None
        if cut < len(plan.rows):
            last = plan.rows[-1]
            assert isinstance(last.node.attrs, ops.Linear)
            linear = last.node.attrs
            classifier = Classifier(forward.pop().attr, linear.in_features, linear.bias, "")
            classifier.comment = batch_comment(last.shape)
        features = forward[-1].comment if classifier else ""
        head = [replace(s, comment=features) for s in head]  # they now follow the flatten
        for head_plan, a in zip(plan.aux, aux, strict=True):
            a.fc, a.fc_in, a.fc_bias = self.aux_fc(head_plan.row)
        own = [(r.node, self.node_paths[r.node.name]) for r in plan.rows if r.block is None]
        return self.view(blocks, members, (forward, head, classifier), aux, folded_norms(own))

    def aux_fc(self, head: Row) -> tuple[str, int, bool]:
        """An aux head's last linear layer (an expression below the head) and its inputs;
        ("", 0, True) for a head without one (nothing for reset_classifier to replace)."""
        nodes = self.plan.graph.nodes
        fcs = [n for n in head.nodes if isinstance(nodes[n].attrs, ops.Linear)]
        if not fcs:
            return "", 0, True
        fc = fcs[-1]
        linear = nodes[fc].attrs
        assert isinstance(linear, ops.Linear)
        path = self.node_paths[fc].removeprefix(f"{head.name}.")
        spelled = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in path.split("."))
        return spelled, linear.in_features, linear.bias

    def row_layer(self, row: RowPlan) -> Call:
        return self.layer(row.node, row.cin.render() if row.cin else "", _render(row.cout))

    def aux_view(self, head: RowPlan, attr: str, var: str, calls: dict[str, Call]) -> Aux:
        call = calls[head.row.name]
        return Aux(attr, var, call.callee, call, head.row.loss_weight or 0.0)

    def view(
        self,
        blocks: list[BlockClass],
        members: list[Member],
        paths: tuple[list[Step], list[Step], Classifier | None],
        aux: list[Aux],
        folded_layers: dict[str, tuple[str, str]],
    ) -> ModelView:
        g = self.plan.graph
        forward, head, classifier = paths
        fused = any(b.unfused for b in blocks)
        folded = any(u.folded for u in self.units.values())
        norms_folded = bool(folded_layers) or any(b.folded for b in blocks)
        separable = "separable_maxpool" in self.options and any(
            isinstance(n.attrs, ops.Pool) and n.attrs.kind == "max" for n in g.nodes.values()
        )
        sepconv = any(isinstance(n.attrs, ops.SepConv) for n in g.nodes.values())
        noscale = any(_noscale(n) for n in g.nodes.values())
        helpers = (
            FOLD_BN * folded
            + FOLD_NORMS * norms_folded
            + LOAD_UNFUSED * fused
            + SEPARABLE * separable
            + NO_SCALE * noscale
            + SEPCONV * sepconv
        )
        return ModelView(
            spec=spec_label(g),
            sha256=g.spec_sha256,
            description=py_text(g.description),
            class_name=g.class_name,
            outputs_class=f"{g.class_name}Outputs",
            units=list(self.units.values()),
            blocks=blocks,
            members=members,
            forward=forward,
            head=head,
            classifier=classifier,
            features_comment=forward[-1].comment if classifier else "",
            transform_input=g.transform_input,
            aux=aux,
            num_classes=g.num_classes,
            aux_logits=g.aux_logits,
            init={
                "weights": g.init.weights,
                "std": float_literal(g.init.std),
                "bias": None if g.init.bias is None else float_literal(g.init.bias),
            },
            input_size="x".join(str(d) for d in g.input.shape or ()),
            input_comment=batch_comment(g.input.shape),
            uses_relu=any(
                s.relu or s.act for s in (*forward, *head, *(s for b in blocks for s in b.forward))
            ),
            node_paths=self.node_paths,
            optimized=optimized(g, self.options),
            opt_flag=opt_flag(g, self.options),
            separable=separable,
            library=definitions(PACKAGE, dict.fromkeys(helpers)),  # each helper once
            noscale=noscale,
            folded=folded_layers,
        )


def _head_start(rows: list[RowPlan]) -> int:
    """Where forward_head() begins: the dropouts (flattens aside) just before a final
    linear layer without ReLU, which it applies after forward_features' pooled, flattened
    features (dropout is elementwise: the order does not change it); len(rows) when the
    model does not end with such a layer."""
    last = rows[-1].node.attrs
    if rows[-1].block is not None or not isinstance(last, ops.Linear) or last.act != "none":
        return len(rows)
    start = len(rows) - 1
    while start > 0 and isinstance(rows[start - 1].node.attrs, (ops.Dropout, ops.Flatten)):
        start -= 1
    return start


def head_dropouts(plan: ModulePlan) -> list[str]:
    """The dropout nodes forward_head() applies to the flattened features: their output is
    the IR's shape flattened (C x 1 x 1 -> C)."""
    start = _head_start(plan.rows)
    return [r.node.name for r in plan.rows[start:] if isinstance(r.node.attrs, ops.Dropout)]


def _noscale(node: Node) -> bool:
    norm = getattr(node.attrs, "norm", None)
    return norm is not None and not norm.scale


def _unit_name(unit: ConvUnit) -> str:
    """ConvBNReLU, ConvReLU, ...; FoldedConvBNReLU where fold_bn folded the norm;
    ConvBNNoScaleReLU where the norm learns no scale."""
    bn = "BN" * (unit.bn or unit.folded) + "NoScale" * (not unit.scale)
    return "Folded" * unit.folded + "Conv" + bn + "ReLU" * unit.relu


def _literal(value: object) -> str:
    """A block argument in code: channels and scales as numbers, an activation quoted."""
    if isinstance(value, float):
        return float_literal(value)
    return repr(value) if isinstance(value, str) else str(value)


def _render(chan: Chan | None) -> str:
    return chan.render() if chan else ""


def build_view(graph: Graph, options: Collection[str] = ()) -> ModelView:
    """The view-model of `graph`, with the backend `options` (torch's OPTIONS) asked for."""
    return _Builder(build_plan(graph), options).build()
