"""A BlockPlan -> one torch class: members, forward() steps and each row's constructor call.

Layout rules (they fix state_dict keys, so torchvision's weights load):
- a block with several branches has one attribute per branch: the layer itself
  if the branch has one layer, else an nn.Sequential of its layers;
- a block with one branch is a sequence: its layers are attributes named after them;
- `layout: flat` gives one attribute per layer and one local variable per node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from incept.compiler.ir.shapes import batch_comment

from ..common import Namespace, py_text
from ..plan import IN_CHANNELS, BlockPlan, Column, Param
from .layers import Call, Step, linear_relu

# nn.Module's own attributes and the names the generated code uses itself.
MODULE_RESERVED = frozenset(
    "forward training train eval parameters buffers modules children state_dict to cuda cpu "
    "type float double half apply zero_grad add_module register_buffer register_module "
    "aux_logits num_classes init_weights dump_patches call_super_init".split()
)
LOCAL_RESERVED = frozenset({"x", "self", "torch", "nn", "F", "math"})
ARG_RESERVED = LOCAL_RESERVED | {"in_channels"}
RELU = Call("nn.ReLU", ("inplace=True",))


@dataclass
class Member:
    """`self.<attr> = <call>  # <comment>`, or an nn.Sequential of `items` (call, comment)."""

    attr: str
    call: Call | None = None
    comment: str = ""
    items: tuple[tuple[Call, str], ...] = ()


@dataclass
class BlockClass:
    name: str
    doc: str
    params: list[str]  # after in_channels
    members: list[Member]
    forward: list[Step]
    returns: Step  # forward() returns its value (`out` alone when no computation)
    paths: dict[int, str]  # column index -> module path inside the class


Constructor = Callable[[Column], Call]


def block_class(
    name: str, block: BlockPlan, arg: Callable[[Param], str], ctor: Constructor
) -> BlockClass:
    emit = {"sequence": _sequence, "branches": _branches, "flat": _flat}[block.layout]
    members, forward, returns, paths = emit(block, ctor)
    doc = block.template.doc or f"The `{block.template.name}` block."
    params = [arg(p) for p in block.params]
    return BlockClass(name, py_text(doc), params, members, forward, returns, paths)


def comment(column: Column) -> str:
    shape = column.shape and tuple("in_channels" if d == IN_CHANNELS else d for d in column.shape)
    return batch_comment(shape)


def _sequence(
    block: BlockPlan, ctor: Constructor
) -> tuple[list[Member], list[Step], Step, dict[int, str]]:
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


def _branches(
    block: BlockPlan, ctor: Constructor
) -> tuple[list[Member], list[Step], Step, dict[int, str]]:
    """One attribute per branch: the layer itself, or an nn.Sequential of its layers."""
    names = Namespace(MODULE_RESERVED)
    by_branch: dict[str, list[Column]] = {}
    for col in block.columns:
        if col.node.op != "concat":
            by_branch.setdefault(col.node.branch or "", []).append(col)
    members: list[Member] = []
    forward: list[Step] = []
    paths: dict[int, str] = {}
    for branch, cols in by_branch.items():
        attr = names(branch)
        items: list[tuple[Call, str]] = []
        for col in cols:
            paths[col.index] = f"{attr}.{len(items)}"
            items.append((ctor(col), col.node.layer or ""))
            if linear_relu(col.node):
                items.append((RELU, ""))
        if len(items) == 1:
            paths[cols[0].index] = attr
            members.append(Member(attr, items[0][0], items[0][1]))
        else:
            members.append(Member(attr, items=tuple(items)))
        forward.append(Step(attr, attr, comment=comment(cols[-1])))
    return members, forward, Step("", cat=tuple(m.attr for m in members)), paths


def _flat(
    block: BlockPlan, ctor: Constructor
) -> tuple[list[Member], list[Step], Step, dict[int, str]]:
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
        if node.op == "concat":
            if col.index == last:  # the block's output
                return members, forward, Step("", cat=ins), paths
            var[node.name] = local(node.layer or f"cat{col.index}")
            forward.append(Step(var[node.name], cat=ins, comment=comment(col)))
            continue
        attr = names(node.layer or f"layer{col.index}")
        members.append(Member(attr, ctor(col)))
        var[node.name] = local(attr)
        forward.append(Step(var[node.name], attr, ins[0], linear_relu(node), comment=comment(col)))
        paths[col.index] = attr
    return members, forward, Step(var[block.columns[-1].node.name]), paths
