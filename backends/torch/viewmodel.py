"""IR graph -> the torch view-model: everything the template prints, decided here.

Layout rules (they fix state_dict keys, so torchvision's weights load):
- each row is a model attribute named after the row;
- a block with several branches has one attribute per branch: the layer itself
  if the branch has one layer, else an nn.Sequential of its layers;
- a block with one branch is a sequence: its layers are attributes named after them;
- a conv layer is a unit module (`.conv`, `.bn`) that applies its activation.
One class is emitted per block template; channel counts that the template takes
from a parameter stay symbolic in the class (`ch3x3red`), so the model's
constructor reads like Table 1: `Inception(192, 64, 96, 128, 16, 32, 32)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row
from incept.compiler.ir.lower import camel_case

from ..common import (
    Namespace,
    float_literal,
    pair_literal,
    py_text,
    shape_comment,
    spec_label,
)

# nn.Module's own attributes and the names the generated code uses itself.
MODULE_RESERVED = frozenset(
    "forward training train eval parameters buffers modules children state_dict to cuda cpu "
    "type float double half apply zero_grad add_module register_buffer register_module "
    "aux_logits num_classes init_weights dump_patches call_super_init".split()
)
LOCAL_RESERVED = frozenset({"x", "self", "torch", "nn", "F", "math"})
CLASS_RESERVED = frozenset({"NamedTuple", "Tensor", "build"})
ARG_RESERVED = LOCAL_RESERVED | {"in_channels"}


@dataclass
class Member:
    """`self.<attr> = <expr>`, or an nn.Sequential of `items` (expr, comment)."""

    attr: str
    expr: str = ""
    comment: str = ""
    items: list[tuple[str, str]] | None = None


@dataclass
class Step:
    """One line of forward(): `<code>  # <comment>`."""

    code: str
    comment: str = ""


@dataclass
class Unit:
    """A conv unit class: Conv2d, optional BatchNorm2d, optional ReLU."""

    name: str
    bn: bool
    relu: bool
    bias: bool  # the constructor's default
    eps: float
    momentum: float


@dataclass
class BlockClass:
    name: str
    doc: str
    params: list[str]  # after in_channels
    members: list[Member]
    forward: list[Step]
    returns: str  # the expression forward() returns


@dataclass
class Aux:
    attr: str
    var: str
    expr: str
    tap: str  # the row after which it runs
    loss_weight: float


@dataclass
class ModelView:
    spec: str
    sha256: str
    description: str
    class_name: str
    outputs_class: str
    units: list[Unit]
    blocks: list[BlockClass]
    members: list[Member]
    forward: list[Step]
    aux: list[Aux]
    num_classes: int
    aux_logits: bool
    init: dict[str, object]
    input_comment: str
    uses_relu: bool
    node_paths: dict[str, str]


ByIndex = Callable[[int], str]
Layout = tuple[list[Member], list[Step], str, dict[int, str]]


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.units: dict[tuple[bool, bool], Unit] = {}
        # Template parameters become constructor arguments: no class may take their names.
        arguments = {p for t in graph.templates.values() for p in t.params}
        self.classes = Namespace(
            CLASS_RESERVED | arguments | {graph.class_name, f"{graph.class_name}Outputs"}
        )
        self.node_paths: dict[str, str] = {}
        self.uses_relu = False

    # -- single layers ----------------------------------------------------------

    def unit(self, conv: ops.Conv) -> Unit:
        key = (conv.norm is not None, conv.act == "relu")
        if key not in self.units:
            bn, relu = key
            name = self.classes("Conv" + ("BN" if bn else "") + ("ReLU" if relu else ""))
            eps, momentum = (conv.norm.eps, conv.norm.momentum) if conv.norm else (1e-5, 0.1)
            self.units[key] = Unit(name, bn, relu, not bn, eps, momentum)
        return self.units[key]

    def module(self, node: Node, cin: str, cout: str) -> str:
        """Constructor expression of one layer; `cin`/`cout` may be symbolic."""
        a = node.attrs
        if isinstance(a, ops.Conv):
            u = self.unit(a)
            args = [cin, cout, f"kernel_size={pair_literal(a.kernel)}"]
            if a.stride != (1, 1):
                args.append(f"stride={pair_literal(a.stride)}")
            if a.padding != (0, 0):
                args.append(f"padding={pair_literal(a.padding)}")
            if a.bias != u.bias:
                args.append(f"bias={a.bias}")
            if a.norm and a.norm.eps != u.eps:
                args.append(f"eps={float_literal(a.norm.eps)}")
            if a.norm and a.norm.momentum != u.momentum:
                args.append(f"momentum={float_literal(a.norm.momentum)}")
            return f"{u.name}({', '.join(args)})"
        if isinstance(a, ops.Pool):
            cls = "nn.MaxPool2d" if a.kind == "max" else "nn.AvgPool2d"
            args = [pair_literal(a.kernel), f"stride={pair_literal(a.stride)}"]
            if a.padding != (0, 0):
                args.append(f"padding={pair_literal(a.padding)}")
            if a.ceil_mode:
                args.append("ceil_mode=True")
            if a.kind == "avg" and not a.count_include_pad:
                args.append("count_include_pad=False")
            return f"{cls}({', '.join(args)})"
        if isinstance(a, ops.AdaptiveAvgPool):
            return f"nn.AdaptiveAvgPool2d({a.size})"
        if isinstance(a, ops.LRN):
            return (
                f"nn.LocalResponseNorm({a.size}, alpha={float_literal(a.alpha)}, beta={float_literal(a.beta)}, "
                f"k={float_literal(a.k)})"
            )
        if isinstance(a, ops.Dropout):
            return f"nn.Dropout(p={float_literal(a.p)})"
        if isinstance(a, ops.Flatten):
            return "nn.Flatten()"
        if isinstance(a, ops.Linear):
            bias = "" if a.bias else ", bias=False"
            return f"nn.Linear({cin}, {cout}{bias})"
        raise AssertionError(f"no torch module for {node.op}")

    def call(self, node: Node, attr: str) -> str:
        """forward() code applying layer `attr` to x (linear layers apply their ReLU here)."""
        if isinstance(node.attrs, ops.Linear) and node.attrs.act == "relu":
            self.uses_relu = True
            return f"x = F.relu(self.{attr}(x), inplace=True)"
        return f"x = self.{attr}(x)"

    # -- block templates ----------------------------------------------------------

    def block_class(self, template: str, rows: list[Row]) -> tuple[BlockClass, list[str]]:
        """One class for all rows of a template, and the constructor call of each row."""
        tpl = self.graph.templates[template]
        insts = [[self.graph.nodes[n] for n in r.nodes] for r in rows]
        first = insts[0]
        index = {n.name: i for i, n in enumerate(first)}
        params = list(tpl.params)
        # A parameter named like something the class body uses (self, nn, ...) is renamed.
        names = Namespace(ARG_RESERVED)
        arg = {p: names(p, prefix="arg_") for p in params}
        derived: dict[str, list[int]] = {}

        # Channel expressions: symbolic where the template used a parameter.
        chan: list[str | None] = []
        cins: list[str] = []
        for i, node in enumerate(first):
            ins = [chan[index[n]] if n in index else "in_channels" for n in node.inputs]
            cin = ins[0] or ""
            if isinstance(node.attrs, ops.Conv | ops.Linear):
                if node.out_ref and node.out_ref not in params:
                    params.append(node.out_ref)  # a global such as num_classes
                    arg[node.out_ref] = names(node.out_ref, prefix="arg_")
                if ins[0] is None:  # features after a flatten: literal if every row agrees
                    values = [inst[i].attrs.in_features for inst in insts]  # type: ignore[union-attr]
                    cin = str(values[0])
                    if len(set(values)) > 1:
                        cin = f"{node.layer}_in_features"
                        derived[cin] = values
                out: str | None = arg[node.out_ref] if node.out_ref else str(node.attrs.out)
            elif isinstance(node.attrs, ops.Flatten):
                out = None
            elif isinstance(node.attrs, ops.Concat):
                out = None if None in ins else " + ".join(ins)  # type: ignore[arg-type]
            else:
                out = ins[0]
            chan.append(out)
            cins.append(cin)

        def comment(i: int) -> str:
            """The shape if every row agrees; else symbolic channels if the size agrees."""
            shapes = {inst[i].shape for inst in insts}
            if len(shapes) == 1:
                return shape_comment(first[i].shape)
            symbol = chan[i]
            if symbol and " " not in symbol and len({s[1:] for s in shapes if s}) == 1:
                return shape_comment((symbol, *first[i].shape[1:]))  # type: ignore[arg-type]
            return ""

        def expr(i: int) -> str:
            return self.module(first[i], cins[i], chan[i] or "")

        layout = "sequence" if tpl.layout == "branches" and len(tpl.branches) == 1 else tpl.layout
        emit = {"sequence": self._sequence, "branches": self._branches, "flat": self._flat}[layout]
        members, forward, returns, rel = emit(first, expr, comment)
        cls = BlockClass(
            name=self.classes(camel_case(template)),
            doc=py_text(tpl.doc or f"The `{template}` block."),
            params=[arg[p] for p in params] + list(derived),
            members=members,
            forward=forward,
            returns=returns,
        )
        calls = []
        for r_index, (row, inst) in enumerate(zip(rows, insts, strict=True)):
            for i, path in rel.items():
                self.node_paths[inst[i].name] = f"{row.name}.{path}"
            self.node_paths[row.output] = self.node_paths.get(row.output, row.name)
            values = [str(self.graph.nodes[row.input].shape[0])]  # type: ignore[index]
            for p in [*params, *derived]:
                if p in row.args:
                    values.append(str(row.args[p]))
                elif p in derived:
                    values.append(f"{p}={derived[p][r_index]}")
                else:
                    values.append(f"{arg[p]}={p}")  # a global: the model constructor's argument
            calls.append(f"{cls.name}({', '.join(values)})")
        return cls, calls

    # Each layout gets the instance's nodes and two functions of a node's index (its
    # constructor expression, its shape comment); it returns the class members, the
    # forward() steps, the expression forward() returns, and node index -> module path.

    def _sequence(self, nodes: list[Node], expr: ByIndex, comment: ByIndex) -> Layout:
        """One branch: layers are attributes named after them, applied in turn to x."""
        names = Namespace(MODULE_RESERVED)
        members: list[Member] = []
        forward: list[Step] = []
        rel: dict[int, str] = {}
        for i, node in enumerate(nodes):
            attr = names(node.layer or f"layer{i}")
            members.append(Member(attr, expr(i), "" if attr == node.layer else node.layer or ""))
            forward.append(Step(self.call(node, attr), comment(i)))
            rel[i] = attr
        return members, forward, "x", rel

    def _branches(self, nodes: list[Node], expr: ByIndex, comment: ByIndex) -> Layout:
        """One attribute per branch: the layer itself, or an nn.Sequential of its layers."""
        names = Namespace(MODULE_RESERVED)
        by_branch: dict[str, list[int]] = defaultdict(list)
        for i, node in enumerate(nodes):
            if node.op != "concat":
                by_branch[node.branch or ""].append(i)
        members: list[Member] = []
        forward: list[Step] = []
        cat: list[str] = []
        rel: dict[int, str] = {}
        for branch, idxs in by_branch.items():
            attr = names(branch)
            items: list[tuple[str, str]] = []
            for i in idxs:
                rel[i] = f"{attr}.{len(items)}"
                items.append((expr(i), nodes[i].layer or ""))
                if _extra_relu(nodes[i]):
                    items.append(("nn.ReLU(inplace=True)", ""))
            if len(items) == 1:
                rel[idxs[0]] = attr
                members.append(Member(attr, items[0][0], items[0][1]))
            else:
                members.append(Member(attr, items=items))
            forward.append(Step(f"{attr} = self.{attr}(x)", comment(idxs[-1])))
            cat.append(attr)
        return members, forward, f"torch.cat([{', '.join(cat)}], 1)", rel

    def _flat(self, nodes: list[Node], expr: ByIndex, comment: ByIndex) -> Layout:
        """One attribute per layer; forward() follows the graph with one variable per node."""
        names, local = Namespace(MODULE_RESERVED), Namespace(LOCAL_RESERVED)
        var: dict[str, str] = {}
        members: list[Member] = []
        forward: list[Step] = []
        rel: dict[int, str] = {}
        for i, node in enumerate(nodes):
            ins = [var.get(n, "x") for n in node.inputs]
            if node.op == "concat":
                if i == len(nodes) - 1:  # the block's output
                    return members, forward, f"torch.cat([{', '.join(ins)}], 1)", rel
                var[node.name] = local(node.layer or f"cat{i}")
                forward.append(
                    Step(f"{var[node.name]} = torch.cat([{', '.join(ins)}], 1)", comment(i))
                )
                continue
            attr = names(node.layer or f"layer{i}")
            members.append(Member(attr, expr(i)))
            var[node.name] = local(attr)
            call = self.call(node, attr).replace("x = ", f"{var[node.name]} = ", 1)
            forward.append(Step(call.replace("(x)", f"({ins[0]})"), comment(i)))
            rel[i] = attr
        return members, forward, var[nodes[-1].name], rel

    # -- the model ------------------------------------------------------------------

    def build(self) -> ModelView:
        g = self.graph
        attrs = Namespace(MODULE_RESERVED)
        local = Namespace(LOCAL_RESERVED)
        by_template: dict[str, list[Row]] = defaultdict(list)
        for row in (*g.rows, *g.aux_heads):
            if row.template:
                by_template[row.template].append(row)
        blocks: list[BlockClass] = []
        calls: dict[str, str] = {}
        for template, rows in by_template.items():
            cls, row_calls = self.block_class(template, rows)
            blocks.append(cls)
            calls.update(zip((r.name for r in rows), row_calls, strict=True))

        members: list[Member] = []
        forward = [Step("", shape_comment(g.input.shape))]
        aux_views = []
        for head in g.aux_heads:
            aux_views.append(
                Aux(
                    attrs(head.name),
                    local(head.name),
                    calls[head.name],
                    head.tap or "",
                    head.loss_weight or 0.0,
                )
            )
        taps: dict[str, list[Aux]] = defaultdict(list)
        for aux in aux_views:
            taps[aux.tap].append(aux)
        for row in g.rows:
            attr = attrs(row.name)
            out = g.nodes[row.output]
            if row.template:
                members.append(Member(attr, calls[row.name]))
                forward.append(Step(f"x = self.{attr}(x)", shape_comment(out.shape)))
            else:
                cin = g.nodes[row.input].shape
                cout = out.out_ref or str(getattr(out.attrs, "out", ""))
                members.append(Member(attr, self.module(out, str(cin[0]) if cin else "", cout)))
                forward.append(Step(self.call(out, attr), shape_comment(out.shape)))
                self.node_paths[out.name] = attr
            for aux in taps.get(row.name, []):
                forward.append(
                    Step(
                        f"{aux.var} = self.{aux.attr}(x) if self.{aux.attr} is not None and self.training else None"
                    )
                )
        for head in g.aux_heads:
            self.node_paths.setdefault(head.output, head.name)
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
            aux=aux_views,
            num_classes=g.num_classes,
            aux_logits=g.aux_logits,
            init={
                "weights": g.init.weights,
                "std": float_literal(g.init.std),
                "bias": None if g.init.bias is None else float_literal(g.init.bias),
            },
            input_comment="x".join(str(d) for d in g.input.shape or ()),
            uses_relu=self.uses_relu,
            node_paths=self.node_paths,
        )


def _extra_relu(node: Node) -> int:
    return int(isinstance(node.attrs, ops.Linear) and node.attrs.act == "relu")


def build_view(graph: Graph) -> ModelView:
    return _Builder(graph).build()
