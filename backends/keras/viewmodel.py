"""IR graph -> the Keras view-model: every line of the generated file is decided here.

Naming rules (model.summary() reads like Table 1, and weight transfer relies on them):
- every IR node is a Keras layer named after the node (`inception_3a_3x3_reduce`); a
  block's concatenation is its `<row>_output` node;
- a conv node with batch norm is `<node>` (Conv2D), `<node>_bn` and, with its ReLU,
  `<node>_relu`; without batch norm it is one Conv2D that applies its activation;
- helper layers add a suffix: `<node>_pad` (explicit padding), `<node>_chw` (the
  transpose before a flatten in torch's order).
One function is emitted per block template, with the template's parameters as
arguments (`inception(x, ch1x1, ch3x3red, ...)`); build() is one functional graph.

Where Keras and torch differ, the form chosen (tests/test_keras_backend.py checks each
against torch, on both Keras backends):
- conv padding: "same" only with stride 1 and padding k // 2 for odd k (then both pad
  k // 2 on each side); otherwise ZeroPadding2D and "valid".
- max pool: "valid" without padding; "same" where TensorFlow's same padding equals the
  IR's per-side padding (max pooling never picks padding); otherwise -inf padding.
- avg pool: "valid" without padding; ZeroPadding2D when torch counts all the padding
  (count_include_pad, no extra ceil-mode rows); otherwise PaddedAveragePooling2D, which
  divides each window by torch's count.
- adaptive avg pool: a plain pool when the size divides, else torch's windows.
- flatten: in torch's C x H x W order, so Dense kernels are Linear weights transposed.
- batch norm: epsilon = torch's eps, momentum = 1 - torch's momentum. (In training Keras
  updates the moving variance with the biased batch variance, torch with the unbiased
  one: moving statistics drift apart by n / (n - 1); outputs for given weights agree.)
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node, Row

from ..common import Namespace, float_literal, pair_literal, py_text, spec_label

Shape = tuple[int, ...]
Namer = Callable[[str], str]  # layer-name suffix -> Python expression of the layer name
Valuer = Callable[[str, list[object]], str]  # per-row values -> a literal or a parameter

# Module-level names of the generated file (helpers and custom layers are always reserved,
# emitted or not, so a template's function never changes name with the spec's contents).
MODULE_RESERVED = frozenset(
    "keras layers ops math build compile_kwargs LOSS_WEIGHTS dense flatten_chw conv conv_bn "
    "conv_relu conv_bn_relu LocalResponseNorm ConstantPadding2D PaddedAveragePooling2D "
    "AdaptiveAveragePooling2D".split()
)
# Local names inside a block function or build(); builtins too (`float` is used, and a
# branch named `max` should not shadow one).
LOCAL_RESERVED = MODULE_RESERVED | set(dir(builtins)) | {"x", "name", "inputs", "outputs"}
LOCAL_RESERVED |= {"num_classes", "aux_logits"}


@dataclass
class Line:
    """One statement: `<code>  # <comment>`; `aux` lines run under `if aux_logits:`."""

    code: str
    comment: str = ""
    aux: bool = False


@dataclass
class ConvHelper:
    """A conv helper function: Conv2D, optional BatchNormalization, optional ReLU."""

    name: str
    bn: bool
    relu: bool
    bias: bool  # the helper's default use_bias
    epsilon: str
    momentum: str  # Keras convention: 1 - torch's momentum
    explicit_padding: bool = False  # some call passes torch-style padding


@dataclass
class BlockFn:
    name: str
    doc: str
    params: list[str]  # after x, before name
    body: list[Line]
    branches: list[str] = field(default_factory=list)  # concatenated, if several
    concat: str = ""  # the concatenation's layer name, as an f-string
    result: str = "x"  # returned when there is a single branch


@dataclass
class Init:
    """The spec's initialisation as Keras initializer expressions (None: Keras' default)."""

    kernel: str | None
    bias: str | None
    note: str


@dataclass
class ModelView:
    spec: str
    sha256: str
    description: str
    model_name: str
    input_shape: str  # "(224, 224, 3)"
    input_comment: str  # "N x 224 x 224 x 3"
    helpers: list[ConvHelper]
    dense: bool
    init: Init
    blocks: list[BlockFn]
    body: list[Line]
    aux: list[str]  # output variables of the aux heads, in order
    loss_weights: dict[str, float]  # output layer name -> weight, in output order
    num_classes: int
    aux_logits: bool
    custom: set[str]  # custom layers and helpers the model uses
    weight_layers: dict[str, tuple[str, ...]]
    out_layers: dict[str, str]  # IR node -> the Keras layer whose output is the node's value

    @property
    def uses_ops(self) -> bool:  # the custom layers are written with keras.ops
        return bool(self.custom - {"flatten_chw"})


def keras_momentum(torch_momentum: float) -> str:
    """Keras keeps `momentum` of the old statistic, torch adds `momentum` of the new one."""
    return float_literal(float(Decimal(1) - Decimal(repr(torch_momentum))))


def hwc_comment(shape: tuple[int | str, ...] | None) -> str:
    """`N x H x W x C` for an IR (C, H, W) shape, `N x F` for flat features."""
    if not shape:
        return ""
    dims = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    return "N x " + " x ".join(str(d) for d in dims)


def conv_padding(conv: ops.Conv) -> str | None:
    """The Conv2D `padding` argument, or None for "valid" (the default)."""
    if conv.padding == (0, 0):
        return None
    if conv.stride == (1, 1) and all(
        k % 2 == 1 and p == k // 2 for k, p in zip(conv.kernel, conv.padding, strict=True)
    ):
        return '"same"'  # stride 1, odd k: TensorFlow's "same" pads k // 2 on both sides
    return pair_literal(conv.padding)  # torch-style symmetric padding, applied by ZeroPadding2D


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "same": (output size, padding before, padding after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def pool_form(node: Node, in_shape: tuple[int, ...]) -> tuple[str, tuple[int, int, int, int]]:
    """How a pool node is written: valid, same, zeropad or pad, with its per-side padding."""
    a = node.attrs
    assert isinstance(a, ops.Pool) and node.shape is not None
    in_hw, out_hw = (in_shape[1], in_shape[2]), (node.shape[1], node.shape[2])
    pads = a.pads(in_hw, out_hw)
    top, bottom, left, right = pads
    if pads == (0, 0, 0, 0):
        return "valid", pads
    if a.kind == "max":
        rows = same_pads(in_hw[0], a.kernel[0], a.stride[0])
        cols = same_pads(in_hw[1], a.kernel[1], a.stride[1])
        if (rows, cols) == ((out_hw[0], top, bottom), (out_hw[1], left, right)):
            return "same", pads
    elif a.count_include_pad and top == bottom and left == right:
        return "zeropad", pads  # every window lies inside input + padding: torch divides by k*k
    return "pad", pads


def adaptive_form(node: Node, in_shape: tuple[int, ...]) -> str:
    a = node.attrs
    assert isinstance(a, ops.AdaptiveAvgPool)
    (h, w), (oh, ow) = in_shape[1:], a.size
    if (oh, ow) == (1, 1):
        return "global"
    if h % oh == 0 and w % ow == 0:
        return pair_literal(
            (h // oh, w // ow)
        )  # torch's windows are then a plain, non-overlapping pool
    return "adaptive"


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.module = Namespace(MODULE_RESERVED)
        self.helpers: dict[tuple[bool, bool], ConvHelper] = {}
        self.custom: set[str] = set()
        self.layer_owner: dict[str, str] = {}  # Keras layer name -> IR node
        self.out_layer: dict[str, str] = {}  # IR node -> the Keras layer producing its value
        self.weight_layers: dict[str, tuple[str, ...]] = {}

    # -- names ----------------------------------------------------------------

    def claim(self, node: Node, suffix: str = "") -> str:
        """Register a Keras layer name; Keras requires them unique within a model."""
        name = node.name + suffix
        owner = self.layer_owner.setdefault(name, node.name)
        if owner != node.name:
            raise ValueError(
                f"Keras layer name {name!r} is taken twice (nodes {owner!r} and {node.name!r}); "
                "rename one of them in the spec"
            )
        return name

    def helper(self, conv: ops.Conv) -> ConvHelper:
        key = (conv.norm is not None, conv.act == "relu")
        if key not in self.helpers:
            bn, relu = key
            name = "conv" + ("_bn" if bn else "") + ("_relu" if relu else "")
            eps, momentum = (conv.norm.eps, conv.norm.momentum) if conv.norm else (1e-3, 0.01)
            self.helpers[key] = ConvHelper(
                name, bn, relu, not bn, float_literal(eps), keras_momentum(momentum)
            )
        return self.helpers[key]

    # -- one node, in every instance of a template -------------------------------

    def apply(
        self, nodes: list[Node], src: str, dst: str, nm: Namer, cout: str, value: Valuer
    ) -> list[str]:
        """The statements computing `dst` from `src` for one node (in every instance).

        `nodes` is the node in every row that instantiates it (one node outside blocks);
        `nm(suffix)` is the Python expression of a layer name; `value(hint, values)` is a
        literal when all instances agree, else a parameter of the block function."""
        return [f"{dst} = {code}" for code in self.expressions(nodes, src, dst, nm, cout, value)]

    def expressions(
        self, nodes: list[Node], src: str, dst: str, nm: Namer, cout: str, value: Valuer
    ) -> list[str]:
        node = nodes[0]
        a = node.attrs
        ins: list[Shape] = [self.graph.nodes[n.inputs[0]].shape or () for n in nodes]
        for n in nodes:
            self.out_layer[n.name] = self.claim(n)
        if isinstance(a, ops.Conv):
            h = self.helper(a)
            args = [src, cout, pair_literal(a.kernel)]
            if a.stride != (1, 1):
                args.append(f"strides={pair_literal(a.stride)}")
            padding = conv_padding(a)
            if padding:
                args.append(f"padding={padding}")
                if padding != '"same"':
                    h.explicit_padding = True
                    for n in nodes:
                        self.claim(n, "_pad")
            if a.bias != h.bias:
                args.append(f"use_bias={a.bias}")
            if a.norm and float_literal(a.norm.eps) != h.epsilon:
                args.append(f"epsilon={float_literal(a.norm.eps)}")
            if a.norm and keras_momentum(a.norm.momentum) != h.momentum:
                args.append(f"momentum={keras_momentum(a.norm.momentum)}")
            for n in nodes:
                names = [self.claim(n)]
                if h.bn:
                    names.append(self.claim(n, "_bn"))
                    self.out_layer[n.name] = names[-1]
                if h.bn and h.relu:
                    self.out_layer[n.name] = self.claim(n, "_relu")
                self.weight_layers[n.name] = tuple(names)
            return [f"{h.name}({', '.join(args)}, name={nm('')})"]
        if isinstance(a, ops.Pool):
            return self.pool(nodes, ins, src, dst, nm, value)
        if isinstance(a, ops.AdaptiveAvgPool):
            forms = {adaptive_form(n, s) for n, s in zip(nodes, ins, strict=True)}
            form = forms.pop() if len(forms) == 1 else "adaptive"
            if form == "global":
                return [f"layers.GlobalAveragePooling2D(keepdims=True, name={nm('')})({src})"]
            if form == "adaptive":
                self.custom.add("AdaptiveAveragePooling2D")
                return [f"AdaptiveAveragePooling2D({a.size}, name={nm('')})({src})"]
            return [f"layers.AveragePooling2D({form}, name={nm('')})({src})"]
        if isinstance(a, ops.LRN):
            self.custom.add("LocalResponseNorm")
            lrn = f"{a.size}, alpha={float_literal(a.alpha)}, beta={float_literal(a.beta)}, k={float_literal(a.k)}"
            return [f"LocalResponseNorm({lrn}, name={nm('')})({src})"]
        if isinstance(a, ops.Dropout):
            return [f"layers.Dropout({float_literal(a.p)}, name={nm('')})({src})"]
        if isinstance(a, ops.Flatten):
            # torch flattens C x H x W; with one position or one channel the orders agree
            if any(s[0] > 1 and s[1] * s[2] > 1 for s in ins):
                self.custom.add("flatten_chw")
                for n in nodes:
                    self.claim(n, "_chw")
                return [f"flatten_chw({src}, name={nm('')})"]
            return [f"layers.Flatten(name={nm('')})({src})"]
        if isinstance(a, ops.Linear):
            for n in nodes:
                self.weight_layers[n.name] = (n.name,)
            args = [src, cout]
            if a.act == "relu":
                args.append('activation="relu"')
            if not a.bias:
                args.append("use_bias=False")
            return [f"dense({', '.join(args)}, name={nm('')})"]
        raise AssertionError(f"no Keras layer for {node.op}")

    def pool(
        self, nodes: list[Node], ins: list[Shape], src: str, dst: str, nm: Namer, value: Valuer
    ) -> list[str]:
        a = nodes[0].attrs
        assert isinstance(a, ops.Pool)
        forms = [pool_form(n, s) for n, s in zip(nodes, ins, strict=True)]
        if len(set(forms)) == 1:
            form, pads = forms[0][0], repr(forms[0][1])
        else:  # instances differ in size: the explicit form is exact for each of them
            form, pads = "pad", value("pads", [p for _, p in forms])
        pool = "layers.MaxPooling2D" if a.kind == "max" else "layers.AveragePooling2D"
        args = f"{pair_literal(a.kernel)}, strides={pair_literal(a.stride)}"
        if form == "valid":
            return [f"{pool}({args}, name={nm('')})({src})"]
        if form == "same":
            return [f'{pool}({args}, padding="same", name={nm("")})({src})']
        if form == "zeropad" or a.kind == "max":  # a padding layer before the pool
            for n in nodes:
                self.claim(n, "_pad")
        if form == "zeropad":
            top, _, left, _ = forms[0][1]
            return [
                f"layers.ZeroPadding2D({pair_literal((top, left))}, name={nm('_pad')})({src})",
                f"{pool}({args}, name={nm('')})({dst})",
            ]
        if a.kind == "max":
            self.custom.add("ConstantPadding2D")
            return [
                f'ConstantPadding2D({pads}, value=float("-inf"), name={nm("_pad")})({src})',
                f"{pool}({args}, name={nm('')})({dst})",
            ]
        self.custom.add("PaddedAveragePooling2D")
        kernel, stride = repr(tuple(a.kernel)), repr(tuple(a.stride))
        return [
            f"PaddedAveragePooling2D({kernel}, {stride}, {pads}, "
            f"count_include_pad={a.count_include_pad}, name={nm('')})({src})"
        ]

    # -- block templates ----------------------------------------------------------

    def block_fn(self, name: str, template: str, rows: list[Row]) -> tuple[BlockFn, list[str]]:
        """One function for every row of a template, and each row's arguments after x.

        The body follows the graph: with the default layout one variable per branch (the
        branch name; `x` in a single-branch block), with `layout: flat` one per layer
        (splits inside a branch need it), as in the torch module."""
        g = self.graph
        tpl = g.templates[template]
        sequence = len(tpl.branches) == 1
        # every node but the final concatenation, aligned across the rows
        insts = [[g.nodes[n] for n in r.nodes if sequence or n != r.output] for r in rows]
        first = insts[0]
        local = Namespace(LOCAL_RESERVED)
        params = {p: local(p) for p in tpl.params}  # spec name -> Python name
        derived: dict[str, list[object]] = {}
        flat = tpl.layout == "flat"
        branch_vars = {b: "x" if sequence else local(b) for b in tpl.branches if not flat}
        var = {rows[0].input: "x"}  # node -> the variable holding its value
        cexpr: dict[str, str | None] = {rows[0].input: None}  # symbolic channel count
        body: list[Line] = []
        for i, node in enumerate(first):
            layer = node.layer or f"layer{i}"
            if flat:
                target = local(layer, prefix="layer_")
            else:
                target = branch_vars[node.branch or ""]
            column = [inst[i] for inst in insts]

            def nm(suffix: str, layer: str = layer) -> str:
                return f'f"{{name}}_{layer}{suffix}"'

            def value(hint: str, values: list[object], layer: str = layer) -> str:
                if len(set(values)) == 1:
                    return repr(values[0])
                param = local(f"{layer}_{hint}", prefix="layer_")
                derived[param] = values
                return param

            cexpr[node.name] = cexpr[node.inputs[0]]
            if isinstance(node.attrs, ops.Concat):  # a split inside a branch
                for n in column:
                    self.out_layer[n.name] = self.claim(n)
                parts = ", ".join(var[p] for p in node.inputs)
                code = [f"{target} = layers.Concatenate(name={nm('')})([{parts}])"]
                cexpr[node.name] = None
            else:
                cout = ""
                if isinstance(node.attrs, ops.Conv | ops.Linear):
                    ref = node.out_ref
                    if ref and ref not in params:  # a global such as num_classes
                        params[ref] = ref
                    cout = params[ref] if ref else str(node.attrs.out)
                    cexpr[node.name] = cout
                code = self.apply(column, var[node.inputs[0]], target, nm, cout, value)
            var[node.name] = target
            body += [Line(c) for c in code[:-1]]
            body.append(Line(code[-1], self.shape_comment(column, cexpr[node.name])))
        ends: list[str] = []
        if not sequence:
            for r in rows:
                concat = g.nodes[r.output]
                self.out_layer[concat.name] = self.claim(concat)
            ends = [var[n] for n in g.nodes[rows[0].output].inputs]
        fn = BlockFn(
            name=name,
            doc=py_text(tpl.doc or f"The `{template}` block."),
            params=list(params.values()) + list(derived),
            body=body,
            branches=ends,
            concat='f"{name}_output"',
            result=var[first[-1].name],
        )
        calls = []
        for r_index, row in enumerate(rows):
            values = [str(row.args[p]) for p in tpl.params]
            values += [f"{p}={p}" for spec, p in params.items() if spec not in tpl.params]
            values += [f"{p}={v[r_index]!r}" for p, v in derived.items()]
            calls.append(", ".join([*values, f'name="{row.name}"']))
        return fn, calls

    def shape_comment(self, column: list[Node], cexpr: str | None) -> str:
        shapes = {n.shape for n in column}
        if len(shapes) == 1:
            return hwc_comment(column[0].shape)
        rest = {s[1:] for s in shapes if s is not None}
        if cexpr and len(rest) == 1 and column[0].shape is not None:
            return hwc_comment((cexpr, *column[0].shape[1:]))
        return ""

    # -- the model -------------------------------------------------------------------

    def build(self) -> ModelView:
        g = self.graph
        by_template: dict[str, list[Row]] = {}
        for row in (*g.rows, *g.aux_heads):
            if row.template:
                by_template.setdefault(row.template, []).append(row)
        fn_names = {t: self.module(t, prefix="block_") for t in by_template}
        blocks: list[BlockFn] = []
        calls: dict[str, str] = {}
        for template, rows in by_template.items():
            fn, row_calls = self.block_fn(fn_names[template], template, rows)
            blocks.append(fn)
            calls.update(zip((r.name for r in rows), row_calls, strict=True))

        local = Namespace(LOCAL_RESERVED)
        aux_vars = {h.name: local(h.name) for h in g.aux_heads}
        taps: dict[str, list[Row]] = {}
        for head in g.aux_heads:
            taps.setdefault(head.tap or "", []).append(head)

        def literal(hint: str, values: list[object]) -> str:
            return repr(values[0])

        self.out_layer[g.input.name] = self.claim(g.input)
        body: list[Line] = []
        src = "inputs"
        for row in g.rows:
            out = g.nodes[row.output]
            if row.template:
                call = f"{fn_names[row.template]}({src}, {calls[row.name]})"
                body.append(Line(f"x = {call}", hwc_comment(out.shape)))
            else:
                cout = out.out_ref or str(getattr(out.attrs, "out", ""))

                def nm(suffix: str, name: str = out.name) -> str:
                    return f'"{name}{suffix}"'

                code = self.apply([out], src, "x", nm, cout, literal)
                body += [Line(c) for c in code[:-1]]
                body.append(Line(code[-1], hwc_comment(out.shape)))
            src = "x"
            for head in taps.get(row.name, []):
                call = f"{fn_names[head.template or '']}(x, {calls[head.name]})"
                comment = hwc_comment(g.nodes[head.output].shape)
                body.append(Line(f"{aux_vars[head.name]} = {call}", comment, aux=True))

        weights = {self.out_layer[g.output.name]: 1.0}
        for head in g.aux_heads:
            weights[self.out_layer[head.output]] = float(head.loss_weight or 0.0)
        (c, h, w) = g.input.shape or (0, 0, 0)
        return ModelView(
            spec=spec_label(g),
            sha256=g.spec_sha256,
            description=py_text(g.description),
            model_name=g.name,
            input_shape=repr((h, w, c)),
            input_comment=hwc_comment(g.input.shape),
            helpers=list(self.helpers.values()),
            dense=any(isinstance(n.attrs, ops.Linear) for n in g.nodes.values()),
            init=_init(g),
            blocks=blocks,
            body=body,
            aux=list(aux_vars.values()),
            loss_weights=weights,
            num_classes=g.num_classes,
            aux_logits=g.aux_logits,
            custom=self.custom,
            weight_layers=self.weight_layers,
            out_layers=self.out_layer,
        )


def _init(g: Graph) -> Init:
    scheme = g.init
    bias = (
        None
        if scheme.bias is None
        else f"keras.initializers.Constant({float_literal(scheme.bias)})"
    )
    biases = "Keras' default (zeros)" if scheme.bias is None else float_literal(scheme.bias)
    if scheme.weights == "caffe_xavier":
        note = "Caffe's xavier filler, uniform in +-sqrt(3 / fan_in) (lecun_uniform)"
        return Init('"lecun_uniform"', bias, f"Weights: {note}; biases {biases}.")
    if scheme.weights == "trunc_normal":
        # A fresh initializer per layer: an unseeded Keras initializer repeats its values.
        std = float_literal(scheme.std)
        note = f"normal with std {std} (torch's trunc_normal_ cuts at +-2, not at +-2 std)"
        return Init(
            f"keras.initializers.RandomNormal(stddev={std})",
            bias,
            f"Weights: {note}; biases {biases}.",
        )
    return Init(
        None, bias, f"Weights: Keras' default initializers (torch's differ); biases {biases}."
    )


def build_view(graph: Graph) -> ModelView:
    return _Builder(graph).build()
