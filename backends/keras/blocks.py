"""A BlockPlan -> one Keras function and each row's arguments.

The body follows the graph: with the default layout one variable per branch (the branch
name; `x` in a single-branch block), with `layout: flat` one per layer (splits inside a
branch need it), as in the torch module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from incept.compiler.ir import ops
from incept.compiler.ir.shapes import batch_comment

from ..common import Namespace, float_literal, py_text
from ..plan import IN_CHANNELS, BlockPlan, Column, Param
from .layers import Layers
from .statements import Call, Line


@dataclass
class BlockFn:
    name: str
    doc: str
    params: list[tuple[str, str]]  # (name, type) after x, before name
    body: list[Line]
    branches: list[str] = field(default_factory=list)  # concatenated, if several
    concat: str = ""  # the concatenation's layer name, as an f-string
    result: str = "x"  # returned when there is a single branch


def comment(column: Column) -> str:
    """Keras functions take no in_channels: a shape known only by it gets no comment."""
    shape = column.shape
    return "" if not shape or shape[0] == IN_CHANNELS else batch_comment(shape, channels_last=True)


def py_type(value: object) -> str:
    if isinstance(value, tuple):
        return f"tuple[{', '.join(py_type(v) for v in value)}]"
    return type(value).__name__


class _Body:
    """The statements of one block function, with its local names."""

    def __init__(self, lay: Layers, block: BlockPlan, reserved: frozenset[str]) -> None:
        self.lay, self.block = lay, block
        self.local = Namespace(reserved)
        self.names = {p.name: self.local(p.name) for p in block.params if p.kind == "arg"}
        self.names.update({p.name: p.name for p in block.params if p.kind == "global"})
        self.lines: list[Line] = []

    def spell(self, value: object) -> str:
        if not isinstance(value, Param):
            return repr(value)
        if value.name not in self.names:
            self.names[value.name] = self.local(value.name, prefix="layer_")
        return self.names[value.name]

    def add(self, col: Column, src: str, target: str, var: dict[str, str]) -> None:
        node, layer = col.node, col.node.layer or f"layer{col.index}"

        def nm(suffix: str) -> str:
            return f'f"{{name}}_{layer}{suffix}"'

        def value(hint: str, values: list[object]) -> str:
            return self.spell(self.block.derive(col, hint, values))

        if isinstance(node.attrs, ops.Concat):  # a split inside a branch
            for n in col.nodes:
                self.lay.out_layer[n.name] = self.lay.claim(n)
            parts = f"[{', '.join(var[p] for p in node.inputs)}]"
            code = [Line(target, Call("layers.Concatenate", (f"name={nm('')}",), parts))]
        else:
            cout = col.cout.render(lambda t: self.names.get(t, t)) if col.cout else ""
            code = self.lay.apply(list(col.nodes), src, target, nm, cout, value)
        self.lines += [*code[:-1], code[-1].commented(comment(col))]

    def split(
        self,
        src: str,
        parts: list[Column],
        branch_vars: dict[str, str] | None,
        var: dict[str, str],
    ) -> None:
        """`branch1, branch2 = ops.split(fused, [ch1x1], axis=-1)`: a fused convolution's
        output (fuse_siblings) back into its siblings' variables (one per branch, or one
        per layer where `branch_vars` is None: flat and graph-form blocks)."""
        targets = []
        for part in parts:
            branch = part.node.branch
            name = part.node.layer or f"layer{part.index}"
            if branch_vars is None or self.block.layout == "flat" or branch is None:
                target = self.local(name, prefix="layer_")
            else:
                target = branch_vars[branch]
            var[part.node.name] = target
            targets.append(target)
        sizes = [p.cout.render(lambda t: self.names.get(t, t)) if p.cout else "" for p in parts]
        indices = f"[{', '.join(_offsets(sizes))}]"
        self.lay.splits = True
        self.lines.append(Line(", ".join(targets), Call("ops.split", (src, indices, "axis=-1"))))


def _offsets(parts: list[str]) -> list[str]:
    """Where each part after the first starts: `[ch1x1, ch1x1 + ch3x3red]` (or numbers)."""
    out: list[str] = []
    for end in range(1, len(parts)):
        terms = parts[:end]
        numbers = all(t.isdigit() for t in terms)
        out.append(str(sum(int(t) for t in terms)) if numbers else " + ".join(terms))
    return out


def block_fn(
    lay: Layers, name: str, block: BlockPlan, reserved: frozenset[str]
) -> tuple[BlockFn, list[tuple[str, ...]]]:
    """One function for every row of a template, and each row's arguments after x."""
    g, tpl = lay.graph, block.template
    if tpl.after or tpl.residual:
        return _graph_fn(lay, name, block, reserved)
    # One branch: no concatenation, whatever the layout (torch keeps `flat` attributes).
    sequence, flat = len(tpl.branches) == 1, block.layout == "flat"
    body = _Body(lay, block, reserved)
    _in_channels(body, block)
    branch_vars = {b: "x" if sequence else body.local(b) for b in tpl.branches if not flat}
    output = block.rows[0].instance(0)[-1]  # a repeated row: its first instance's
    columns = [c for c in block.columns if sequence or c.node.name != output]
    var = {block.rows[0].input: "x"}  # node -> the variable holding its value
    for col in columns:
        if col.node.op == "slice":  # split out of its fused convolution, below
            continue
        layer = col.node.layer or f"layer{col.index}"
        own = flat or col.node.branch is None  # a fused convolution feeds several branches
        target = body.local(layer, prefix="layer_") if own else branch_vars[col.node.branch or ""]
        body.add(col, var[col.node.inputs[0]], target, var)
        var[col.node.name] = target
        parts = block.parts(col)
        if parts:
            body.split(target, parts, branch_vars, var)
    ends: list[str] = []
    if not sequence:
        for r in block.rows:
            concat = g.nodes[r.instance(0)[-1]]
            lay.out_layer[concat.name] = lay.claim(concat)
        ends = [var[n] for n in g.nodes[output].inputs]
    params = [(body.names[p.name], _type(p, block)) for p in block.params]
    doc = py_text(tpl.doc or f"The `{tpl.name}` block.")
    fn = BlockFn(
        name, doc, params, body.lines, ends, 'f"{name}_output"', var[columns[-1].node.name]
    )
    return fn, [_arguments(block, body, r) for r in range(len(block.rows))]


def _graph_fn(
    lay: Layers, name: str, block: BlockPlan, reserved: frozenset[str]
) -> tuple[BlockFn, list[tuple[str, ...]]]:
    """A block with layers after its merge or a residual add: one variable per node (the
    layer's name), the graph followed in order; the add is `<row>_output`."""
    tpl = block.template
    body = _Body(lay, block, reserved)
    var = {block.rows[0].input: "x"}
    _in_channels(body, block)
    for col in block.columns:
        node = col.node
        if node.op == "slice":  # fuse_siblings: split out of its fused convolution
            continue
        target = body.local(node.layer or f"layer{col.index}", prefix="layer_")
        if isinstance(node.attrs, ops.Add):
            _add(lay, body, col, [var[n] for n in node.inputs], target)
        else:
            body.add(col, var[node.inputs[0]], target, var)
        var[node.name] = target
        parts = block.parts(col)
        if parts:
            body.split(target, parts, None, var)
    params = [(body.names[p.name], _type(p, block)) for p in block.params]
    doc = py_text(tpl.doc or f"The `{tpl.name}` block.")
    fn = BlockFn(name, doc, params, body.lines, result=var[block.columns[-1].node.name])
    return fn, [_arguments(block, body, r) for r in range(len(block.rows))]


def _in_channels(body: _Body, block: BlockPlan) -> None:
    """`in_channels = int(x.shape[-1])` first where a width is `$in_channels` (any block:
    a plain concatenation may use it too)."""
    widths = [c.cout for c in block.columns if c.node.op in ("conv", "sepconv")]
    if any(w and IN_CHANNELS in w.terms for w in widths):
        body.names[IN_CHANNELS] = body.local("in_channels")
        body.lines.append(Line(body.names[IN_CHANNELS], Call("int", ("x.shape[-1]",))))


def _add(lay: Layers, body: _Body, col: Column, ins: list[str], target: str) -> None:
    """`target = act(shortcut + scale * residual)`: Rescaling, Add and ReLU layers named
    `<node>_scale`, `<node>` and `<node>_relu`."""
    tpl, node = body.block.template, col.node
    attrs = node.attrs
    assert isinstance(attrs, ops.Add)
    residual, short = ins
    layer = node.layer or "output"
    names = {n.name: lay.claim(n) for n in col.nodes}
    lines: list[Line] = []
    scale = body.names[tpl.scale_ref] if tpl.scale_ref else None
    if scale or attrs.scale != 1:
        for n in col.nodes:
            lay.claim(n, "_scale")
        factor = scale or float_literal(attrs.scale)
        rescale = Call("layers.Rescaling", (factor, f'name=f"{{name}}_{layer}_scale"'), residual)
        lines.append(Line(target, rescale))
        residual = target
    pair = f"[{short}, {residual}]"
    lines.append(Line(target, Call("layers.Add", (f'name=f"{{name}}_{layer}"',), pair)))
    act = body.names[tpl.act_ref] if tpl.act_ref else None
    if act or attrs.act == "relu":
        for n in col.nodes:
            names[n.name] = lay.claim(n, "_relu")
        fn = f'"relu" if {act} == "relu" else "linear"' if act else '"relu"'
        relu = Call("layers.Activation", (fn, f'name=f"{{name}}_{layer}_relu"'), target)
        lines.append(Line(target, relu))
    lay.out_layer.update(names)
    body.lines += [*lines[:-1], lines[-1].commented(comment(col))]


def _type(p: Param, block: BlockPlan | None = None) -> str:
    if p.kind == "arg" and block is not None:  # channels, or a residual's scale or act
        return type(block.rows[0].args[p.name]).__name__
    return py_type(p.values[0]) if p.kind == "derived" else "int"


def _arguments(block: BlockPlan, body: _Body, r: int) -> tuple[str, ...]:
    values = [_literal(v) for p, v in block.arguments(r) if p.kind == "arg"]
    values += [f"{p.name}={p.name}" for p, _ in block.arguments(r) if p.kind == "global"]
    values += [f"{body.names[p.name]}={v!r}" for p, v in block.arguments(r) if p.kind == "derived"]
    return (*values, f'name="{block.rows[r].name}"')


def _literal(value: object) -> str:
    """A block argument: channels and scales as numbers, an activation quoted."""
    if isinstance(value, float):
        return float_literal(value)
    return repr(value) if isinstance(value, str) else str(value)
