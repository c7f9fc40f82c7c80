"""A BlockPlan -> one torch class: members, forward() steps and each row's constructor call.

Layout rules (they fix state_dict keys, so torchvision's weights load):
- a block with several branches has one attribute per branch: the layer itself
  if the branch has one layer, else an nn.Sequential of its layers;
- a block with one branch is a sequence: its layers are attributes named after them;
- `layout: flat` gives one attribute per layer and one local variable per node;
- layers after the merge (`after:`) and a residual's shortcut layers are attributes
  named after the layers (timm's `conv2d`, `skip`, `skipbn`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Node
from incept.compiler.ir.shapes import batch_comment

from ..common import Namespace, float_literal, py_text
from ..plan import IN_CHANNELS, BlockPlan, Column, Param
from .layers import Call, Step, linear_relu

# nn.Module's own attributes and the names the generated code uses itself.
MODULE_RESERVED = frozenset(
    "forward training train eval parameters buffers modules children state_dict to cuda cpu "
    "type float double half apply zero_grad add_module register_buffer register_module "
    "aux_logits num_classes init_weights dump_patches call_super_init "
    "forward_features forward_head reset_classifier transform_input".split()
)
LOCAL_RESERVED = frozenset({"x", "self", "torch", "nn", "F", "math", "heads"})
ARG_RESERVED = LOCAL_RESERVED | {"in_channels"}
RELU = Call("nn.ReLU", ("inplace=True",))


@dataclass
class Member:
    """`self.<attr> = <call>  # <comment>`, or an nn.Sequential of `items` (call, comment)."""

    attr: str
    call: Call | None = None
    comment: str = ""
    items: tuple[tuple[Call, str], ...] = ()
    value: str = ""  # a plain attribute (`self.fused_1x1_split = [ch1x1, ch3x3red]`)


@dataclass
class BlockClass:
    name: str
    doc: str
    params: list[tuple[str, str]]  # (name, type) after in_channels
    members: list[Member]
    forward: list[Step]
    returns: Step  # forward() returns its value (`out` alone when no computation)
    paths: dict[int, str]  # column index -> module path inside the class
    # fuse_siblings: module path -> the unfused layout's paths whose tensors it loads
    # (concatenated on output channels); only paths that differ.
    unfused: dict[str, tuple[str, ...]]
    # fold_bn: a separable conv's pointwise path -> (the path of the bn layer folded into
    # it, whose tensors an unfolded checkpoint holds; that norm's eps as a literal).
    folded: dict[str, tuple[str, str]]


# A layer's constructor call. A slice (fuse_siblings) has no module: its Call carries
# only its channel count, spelled with the class's argument names.
Constructor = Callable[[Column], Call]
Body = tuple[list[Member], list[Step], Step, dict[int, str]]
Spell = Callable[[str], str]  # a template parameter -> the class's argument name


def block_class(
    name: str, block: BlockPlan, arg: Callable[[Param], str], ctor: Constructor
) -> BlockClass:
    emit = {"sequence": _sequence, "branches": _branches, "flat": _flat}[block.layout]
    by_name = {p.name: p for p in block.params}
    members, forward, returns, paths = emit(block, ctor, lambda name: arg(by_name[name]))
    unfused = _unfused(block, ctor, paths) if block.layout != "sequence" else {}
    folded = folded_norms([(c.node, paths.get(c.index, "")) for c in block.columns])
    doc = block.template.doc or f"The `{block.template.name}` block."
    params = [(arg(p), _type(block, p)) for p in block.params]
    return BlockClass(name, py_text(doc), params, members, forward, returns, paths, unfused, folded)


def folded_norms(layers: list[tuple[Node, str]]) -> dict[str, tuple[str, str]]:
    """The `folded` table of a class holding `layers` (each node with its module path):
    each bn layer that fold_bn folded, under its separable convolution's pointwise conv."""
    path_of = {node.name: path for node, path in layers}
    out: dict[str, tuple[str, str]] = {}
    for node, path in layers:
        if isinstance(node.attrs, ops.Norm) and node.attrs.folded:
            conv = f"{path_of[node.inputs[0]]}.pointwise"
            out[conv] = (path, float_literal(node.attrs.norm.eps))
    return out


def _type(block: BlockPlan, p: Param) -> str:
    """A parameter's Python type: channels are int; a residual's scale float, its act str."""
    if p.kind != "arg":
        return "int"
    return type(block.rows[0].args[p.name]).__name__


def comment(column: Column) -> str:
    shape = column.shape and tuple("in_channels" if d == IN_CHANNELS else d for d in column.shape)
    return batch_comment(shape)


def _sequence(block: BlockPlan, ctor: Constructor, spell: Spell) -> Body:
    """One branch: layers are attributes named after them, applied in turn to x."""
    names = Namespace(MODULE_RESERVED)
    members: list[Member] = []
    forward: list[Step] = []
    paths: dict[int, str] = {}
    for col in block.columns:
        layer = col.node.layer
        attr = names(layer or f"layer{col.index}")
        members.append(Member(attr, ctor(col), "" if attr == layer else layer or ""))
        forward.append(Step("x", attr, relu=linear_relu(col.node), comment=comment(col)))
        paths[col.index] = attr
    return members, forward, Step("x"), paths


def _by_branch(block: BlockPlan) -> tuple[list[Column], dict[str, list[Column]]]:
    """(fused convolutions, each branch's layers in order); a block's concat is neither,
    nor are layers after the merge, a shortcut's layers and the residual add."""
    fused: list[Column] = []
    by_branch: dict[str, list[Column]] = {}
    for col in block.columns:
        if col.node.op in ("concat", "add") or col.node.part:
            continue
        if col.node.branch is None:
            fused.append(col)
        else:
            by_branch.setdefault(col.node.branch, []).append(col)
    return fused, by_branch


def _branches(block: BlockPlan, ctor: Constructor, spell: Spell) -> Body:
    """One attribute per branch: the layer itself, or an nn.Sequential of its layers. A
    convolution that fuse_siblings made from the branches' first layers comes first and
    is split into the branches' variables; a branch left with no layer is its slice."""
    names = Namespace(MODULE_RESERVED)
    fused, by_branch = _by_branch(block)
    var = {branch: names(branch) for branch in by_branch}
    members: list[Member] = []
    forward: list[Step] = []
    paths: dict[int, str] = {}
    for col in fused:
        attr = names(col.node.layer or f"layer{col.index}")
        parts = block.parts(col)
        sizes = _split_members(members, attr, names, col, parts, ctor)
        outs = tuple(var[c.node.branch or ""] for c in parts)
        forward.append(Step("", attr, split=outs, sizes=sizes))
        paths[col.index] = attr
    for branch, cols in by_branch.items():
        attr = var[branch]
        sliced = cols[0].node.op == "slice"
        own = cols[1:] if sliced else cols
        if not own:
            continue
        items, layer_paths = _items(attr, own, ctor)
        paths.update(layer_paths)
        if len(items) == 1:
            members.append(Member(attr, items[0][0], items[0][1]))
        else:
            members.append(Member(attr, items=tuple(items)))
        forward.append(Step(attr, attr, attr if sliced else "x", comment=comment(cols[-1])))
    tpl = block.template
    if not (tpl.after or tpl.residual):
        return members, forward, Step("", cat=tuple(var.values())), paths
    out = names("out")
    if len(var) > 1:
        merged = next(c for c in block.columns if c.node.op == "concat" and not c.node.branch)
        forward.append(Step(out, cat=tuple(var.values()), comment=comment(merged)))
    else:
        out = next(iter(var.values()))
    return _residual(block, ctor, spell, names, out, members, forward, paths)


def _residual(
    block: BlockPlan,
    ctor: Constructor,
    spell: Spell,
    names: Namespace,
    out: str,
    members: list[Member],
    forward: list[Step],
    paths: dict[int, str],
) -> Body:
    """Layers after the merge, then the residual add: `out = out * scale + shortcut`."""
    tpl = block.template
    short = "x"
    for col in block.columns:
        part = col.node.part
        if part not in ("after", "shortcut"):
            continue
        attr = names(col.node.layer or f"layer{col.index}")
        members.append(Member(attr, ctor(col)))
        paths[col.index] = attr
        if part == "after":
            forward.append(Step(out, attr, out, linear_relu(col.node), comment=comment(col)))
        else:
            src, short = short, names("shortcut") if short == "x" else short
            forward.append(Step(short, attr, src, linear_relu(col.node), comment=comment(col)))
    if tpl.residual:
        add = next(c for c in block.columns if c.node.op == "add")
        forward += _add_steps(block, add, out, short, members, names, spell)
    return members, forward, Step(out), paths


def _add_steps(
    block: BlockPlan,
    add: Column,
    out: str,
    short: str,
    members: list[Member],
    names: Namespace,
    spell: Spell,
) -> list[Step]:
    """`out = out * scale + shortcut` with its ReLU, or the ReLU a parameter decides next."""
    tpl, attrs = block.template, add.node.attrs
    assert isinstance(attrs, ops.Add)
    scale = act = ""
    if tpl.scale_ref:  # a constructor argument, kept as an attribute
        scale = f"self.{names('scale')}"
        members.append(Member(scale[5:], value=spell(tpl.scale_ref)))
    elif attrs.scale != 1:
        scale = float_literal(attrs.scale)
    if tpl.act_ref:
        act = f"self.{names('act')}"
        members.append(Member(act[5:], value=spell(tpl.act_ref)))
    relu = not tpl.act_ref and attrs.act == "relu"
    steps = [Step(out, src=out, short=short, scale=scale, relu=relu, comment=comment(add))]
    if act:
        steps.append(Step(out, src=out, act=act))
    return steps


def _items(
    attr: str, cols: list[Column], ctor: Constructor
) -> tuple[list[tuple[Call, str]], dict[int, str]]:
    """A branch's modules (with a ReLU after a linear layer that has one) and each layer's
    path: `attr` for a lone layer, else `attr.<index>` in its nn.Sequential."""
    items: list[tuple[Call, str]] = []
    paths: dict[int, str] = {}
    for col in cols:
        paths[col.index] = f"{attr}.{len(items)}"
        items.append((ctor(col), col.node.layer or ""))
        if linear_relu(col.node):
            items.append((RELU, ""))
    if len(items) == 1:
        paths[cols[0].index] = attr
    return items, paths


def _unfused(
    block: BlockPlan, ctor: Constructor, paths: dict[int, str]
) -> dict[str, tuple[str, ...]]:
    """Where each module of a fused block finds its tensors in an unfused checkpoint. The
    unfused layout is this block with each slice a layer again, so its paths come from
    the same naming rules run with the slices in place of the fused convolutions."""
    fused = [c for c in block.columns if block.parts(c)]
    if not fused:
        return {}
    names = Namespace(MODULE_RESERVED)
    old: dict[int, str] = {}
    if block.layout == "flat":
        for col in block.columns:
            if col.node.op != "concat" and col not in fused:
                old[col.index] = names(col.node.layer or f"layer{col.index}")
    else:
        for branch, cols in _by_branch(block)[1].items():
            old.update(_items(names(branch), cols, ctor)[1])
    out = {paths[c.index]: tuple(old[p.index] for p in block.parts(c)) for c in fused}
    for index, path in paths.items():
        if index in old and old[index] != path:
            out[path] = (old[index],)
    return out


def _flat(block: BlockPlan, ctor: Constructor, spell: Spell) -> Body:
    """One attribute per layer; forward() follows the graph with one variable per node."""
    names, local = Namespace(MODULE_RESERVED), Namespace(LOCAL_RESERVED)
    var: dict[str, str] = {}
    members: list[Member] = []
    forward: list[Step] = []
    paths: dict[int, str] = {}
    last = block.columns[-1].index
    for col in block.columns:
        node = col.node
        ins = tuple(var.get(n, "x") for n in node.inputs)
        if node.op == "add":
            var[node.name] = local("out")
            steps = _add_steps(block, col, ins[0], ins[1], members, names, spell)
            forward.append(replace(steps[0], out=var[node.name]))
            forward += [replace(s, out=var[node.name], src=var[node.name]) for s in steps[1:]]
            continue
        if node.op == "concat":
            if col.index == last:  # the block's output
                return members, forward, Step("", cat=ins), paths
            var[node.name] = local(node.layer or f"cat{col.index}")
            forward.append(Step(var[node.name], cat=ins, comment=comment(col)))
            continue
        if node.op == "slice":  # split out of its fused convolution, above
            continue
        attr = names(node.layer or f"layer{col.index}")
        paths[col.index] = attr
        parts = block.parts(col)
        if parts:
            sizes = _split_members(members, attr, names, col, parts, ctor)
            outs = tuple(var.setdefault(p.node.name, local(p.node.layer or "part")) for p in parts)
            forward.append(Step("", attr, ins[0], split=outs, sizes=sizes))
            continue
        members.append(Member(attr, ctor(col)))
        var[node.name] = local(attr)
        forward.append(Step(var[node.name], attr, ins[0], linear_relu(node), comment=comment(col)))
    return members, forward, Step(var[block.columns[-1].node.name]), paths


def _split_members(
    members: list[Member],
    attr: str,
    names: Namespace,
    col: Column,
    parts: list[Column],
    ctor: Constructor,
) -> str:
    """Add a fused convolution and its split sizes to `members`; return the sizes' name."""
    members.append(Member(attr, ctor(col), ", ".join(c.node.layer or "" for c in parts)))
    sizes = names(f"{attr}_split")
    members.append(Member(sizes, value=f"[{', '.join(ctor(c).args[0] for c in parts)}]"))
    return sizes
