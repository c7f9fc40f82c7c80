"""ModulePlan -> the Keras view-model: what the template prints, in Keras' spelling.

Naming rules (model.summary() reads like Table 1, and weight transfer relies on them):
- every IR node is a Keras layer named after the node (`inception_3a_3x3_reduce`); a
  block's concatenation is its `<row>_output` node;
- a conv node with batch norm is `<node>` (Conv2D), `<node>_bn` and, with its ReLU,
  `<node>_relu`; without batch norm it is one Conv2D that applies its activation;
- helper layers add a suffix: `<node>_pad` (explicit padding), `<node>_chw` (the
  transpose before a flatten in torch's order).
One function per block template, with the template's parameters as arguments
(`inception(x, ch1x1, ch3x3red, ...)`); build() is one functional graph. How each op
is spelled where Keras and torch differ: forms.py.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row

from ..common import Namespace, opt_flag, py_text, spec_label
from ..library_copy import definitions
from ..plan import ModulePlan, build_plan
from .blocks import BlockFn, block_fn
from .forms import pool_form
from .initializers import Init, init_view
from .layers import ConvHelper, Layers, conv_helper
from .statements import Line, row_lines

#: This backend's package: generated files carry definitions from its library.py.
PACKAGE = __name__.rpartition(".")[0]

# Module-level names of the generated file (helpers and custom layers are always reserved,
# emitted or not, so a template's function never changes name with the spec's contents).
MODULE_RESERVED = frozenset(
    "keras layers ops math build compile_kwargs LOSS_WEIGHTS dense flatten_chw conv conv_bn aux_outputs "
    "IMAGENET_MEAN IMAGENET_STD "
    "conv_relu conv_bn_relu conv_bn_noscale conv_bn_noscale_relu LocalResponseNorm ConstantPadding2D PaddedAveragePooling2D "
    "AdaptiveAveragePooling2D".split()
)
# Local names inside a block function or build(); builtins too (`float` is used, and a
# branch named `max` should not shadow one).
LOCAL_RESERVED = MODULE_RESERVED | set(dir(builtins)) | {"x", "name", "inputs", "outputs"}
LOCAL_RESERVED |= {"num_classes", "aux_logits", "include_top", "pooling", "input_shape"}
LOCAL_RESERVED |= {"classifier_activation", "transform_input", "shape", "exc"}
CUSTOM_ORDER = (
    "LocalResponseNorm",
    "ConstantPadding2D",
    "PaddedAveragePooling2D",
    "AdaptiveAveragePooling2D",
)


@dataclass
class ModelView:
    spec: str
    sha256: str
    description: str
    model_name: str
    input_shape: str  # "(224, 224, 3)"
    input_shape_channels: int
    input_comment: str  # "N x 224 x 224 x 3"
    #: build() takes transform_input (torchvision's input range): the name of its Rescaling
    #: layer, a string literal; "" when the spec does not ask for it
    transform_layer: str
    helpers: list[ConvHelper]
    dense: bool
    init: Init
    library: list[str]  # source of the custom layer classes the model uses (library.py)
    flatten_chw: str  # source of flatten_chw, or "" when unused
    blocks: list[BlockFn]
    body: list[Line]  # the feature extractor's statements: every row before `top`
    top: list[Line]  # the classifier (include_top): global pool, dropout, flatten, dense
    aux: list[str]  # names of the aux heads, in output order
    aux_keys: list[str]  # the same as string literals: keys of build()'s aux_outputs
    loss_weights: dict[str, float]  # output layer name -> weight, in output order
    num_classes: int
    aux_logits: bool
    custom: set[str]  # custom layers and helpers the model uses
    weight_layers: dict[str, dict[str, str]]  # node -> {conv, bn | linear: layer name}
    out_layers: dict[str, str]  # IR node -> the Keras layer whose output is the node's value
    splits: bool  # a block splits a fused convolution with ops.split
    optimized: tuple[str, ...]  # the optimization passes applied
    opt_flag: str  # ` --opt a,b` for the header's compile command, or ""

    @property
    def uses_ops(self) -> bool:  # the custom layers are written with keras.ops
        return self.splits or bool(self.custom - {"flatten_chw"})


def build_view(graph: Graph) -> ModelView:
    plan = build_plan(graph)
    helpers = {key: conv_helper(unit) for key, unit in plan.units.items()}
    lay = Layers(graph, helpers)
    lay.squeezed = squeezed_pools(plan)
    module = Namespace(MODULE_RESERVED)
    fn_names = {b.template.name: module(b.template.name, prefix="block_") for b in plan.blocks}
    blocks, calls = [], {}
    for block in plan.blocks:
        fn, row_calls = block_fn(lay, fn_names[block.template.name], block, LOCAL_RESERVED)
        blocks.append(fn)
        calls.update({row.name: c for row, c in zip(block.rows, row_calls, strict=True)})
    lay.out_layer[graph.input.name] = lay.claim(graph.input)
    transform = f'"{lay.claim(graph.input, "_transform")}"' if graph.transform_input else ""
    for row in graph.rows:
        if row.repeat > 1:
            _instances(lay, row)
    starts: dict[str, int] = {}
    body = row_lines(lay, plan, fn_names, calls, starts, "x" if transform else "inputs")
    top = top_row(plan)
    cut = starts[top] if top else len(body)
    return _view(plan, lay, blocks, body[:cut], _activated(body[cut:]), transform)


def top_row(plan: ModulePlan) -> str | None:
    """The row where include_top's classifier begins: a global pool that only dropouts,
    flattens and a final linear layer without activation follow; None when there is none
    (the model then has no include_top=False form)."""
    rows = plan.rows
    last = rows[-1].node.attrs
    if rows[-1].block or not isinstance(last, ops.Linear) or last.act != "none":
        return None
    i = len(rows) - 2
    while i >= 0 and isinstance(rows[i].node.attrs, (ops.Dropout, ops.Flatten)):
        i -= 1
    row = rows[i] if i >= 0 else None
    if row is None or row.block or row.taps or not _global_pool(plan.graph, row.node):
        return None
    return row.row.name


def _activated(top: list[Line]) -> list[Line]:
    """The classifier's dense layer takes build()'s classifier_activation."""
    if not top:
        return top
    last = top[-1]
    call = replace(
        last.call,
        args=(*last.call.args[:-1], "activation=classifier_activation", last.call.args[-1]),
    )
    return [*top[:-1], replace(last, call=call)]


def _instances(lay: Layers, row: Row) -> None:
    """The layers of a repeated row's instances 1..N-1: instance 0's, renamed from
    `<row>_0_` to `<row>_<i>_` (the block function runs with name=f"<row>_{i}")."""
    head = f"{row.name}_0_"
    for i in range(1, row.repeat):
        for n in row.instance(0):
            m = _rename(n, head, i, row)
            if n in lay.weight_layers:
                lay.weight_layers[m] = {
                    kind: _rename(w, head, i, row) for kind, w in lay.weight_layers[n].items()
                }
            if n in lay.out_layer:
                lay.out_layer[m] = _rename(lay.out_layer[n], head, i, row)


def _rename(layer: str, head: str, i: int, row: Row) -> str:
    return f"{row.name}_{i}_" + layer[len(head) :] if layer.startswith(head) else layer


def squeezed_pools(plan: ModulePlan) -> set[str]:
    """Main-path global pools that reach a flatten through dropouts only: Keras pools
    them straight to N x C (no keepdims), and the flatten disappears."""
    out: set[str] = set()
    rows = plan.rows
    for i, row in enumerate(rows):
        if row.block or not _global_pool(plan.graph, row.node):
            continue
        rest = [r.node.attrs for r in rows[i + 1 :]]
        ahead = next((j for j, op in enumerate(rest) if not isinstance(op, ops.Dropout)), None)
        if (
            ahead is not None
            and isinstance(rest[ahead], ops.Flatten)
            and not any(r.block or r.taps for r in rows[i : i + 1 + ahead + 1])
        ):
            out.add(row.node.name)
    return out


def _global_pool(graph: Graph, node: Node) -> bool:
    """An adaptive pool to 1 x 1, or a pool whose one unpadded window covers its input."""
    a = node.attrs
    if isinstance(a, ops.AdaptiveAvgPool):
        return a.size == (1, 1)
    if isinstance(a, ops.Pool):
        return pool_form(node, graph.nodes[node.inputs[0]].shape or ())[0] == "global"
    return False


def _view(
    plan: ModulePlan,
    lay: Layers,
    blocks: list[BlockFn],
    body: list[Line],
    top: list[Line],
    transform: str,
) -> ModelView:
    g = plan.graph
    weights = {lay.out_layer[g.output.name]: 1.0}
    for head in g.aux_heads:
        weights[lay.out_layer[head.output]] = float(head.loss_weight or 0.0)
    (c, h, w) = g.input.shape or (0, 0, 0)
    return ModelView(
        spec=spec_label(g),
        sha256=g.spec_sha256,
        description=py_text(g.description),
        model_name=g.name,
        input_shape=repr((h, w, c)),
        input_shape_channels=c,
        input_comment=f"N x {h} x {w} x {c}",
        transform_layer=transform,
        helpers=list(lay.helpers.values()),
        dense=any(isinstance(n.attrs, ops.Linear) for n in g.nodes.values()),
        init=init_view(g),
        library=definitions(PACKAGE, [n for n in CUSTOM_ORDER if n in lay.custom]),
        flatten_chw="".join(
            definitions(PACKAGE, ["flatten_chw"] if "flatten_chw" in lay.custom else [])
        ),
        blocks=blocks,
        body=body,
        top=top,
        aux=[h.name for h in g.aux_heads],
        aux_keys=[f'"{py_text(h.name)}"' for h in g.aux_heads],
        loss_weights=weights,
        num_classes=g.num_classes,
        aux_logits=g.aux_logits,
        custom=lay.custom,
        weight_layers=lay.weight_layers,
        out_layers=lay.out_layer,
        splits=lay.splits,
        optimized=g.optimized,
        opt_flag=opt_flag(g),
    )
