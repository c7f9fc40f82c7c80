"""One IR node (in every row of a template) -> the Keras statements computing it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Graph, Node

from ..common import float_literal, pair_literal
from ..plan import ConvUnit
from ..plan.model import unit_key
from .forms import adaptive_form, conv_padding, keras_momentum, pool_form
from .statements import Call, Line

Shape = tuple[int, ...]
Namer = Callable[[str], str]  # layer-name suffix -> Python expression of the layer name
Valuer = Callable[[str, list[object]], str]  # per-row values -> a literal or a parameter


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
    scale: bool = True  # False: BatchNormalization(scale=False)
    grouped: bool = False  # some call passes groups


def conv_helper(unit: ConvUnit) -> ConvHelper:
    bn = "_bn" * (unit.bn or unit.folded) + "_noscale" * (not unit.scale)
    name = "folded_" * unit.folded + "conv" + bn + "_relu" * unit.relu
    eps, momentum = (unit.norm.eps, unit.norm.momentum) if unit.norm else (1e-3, 0.01)
    return ConvHelper(
        name,
        unit.bn,
        unit.relu,
        unit.bias,
        float_literal(eps),
        keras_momentum(momentum),
        scale=unit.scale,
    )


class Layers:
    """Spells nodes as Keras calls and records the layer names each node owns."""

    def __init__(
        self, graph: Graph, helpers: dict[tuple[bool, bool, bool, bool], ConvHelper]
    ) -> None:
        self.graph = graph
        self.helpers = helpers
        self.custom: set[str] = set()
        self.layer_owner: dict[str, str] = {}  # Keras layer name -> IR node
        self.out_layer: dict[str, str] = {}  # IR node -> the Keras layer producing its value
        #: IR node -> its weights' layers by kind: conv and bn, or linear (backends/transfer.py).
        self.weight_layers: dict[str, dict[str, str]] = {}
        self.squeezed: set[str] = set()  # global pools whose 1 x 1 dimensions are dropped
        self.splits = False  # some block splits a fused convolution (ops.split)

    def helper(self, conv: ops.Conv) -> ConvHelper:
        return self.helpers[unit_key(conv)]

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

    def apply(
        self, nodes: list[Node], src: str, dst: str, nm: Namer, cout: str, value: Valuer
    ) -> list[Line]:
        """The statements computing `dst` from `src` for one node (in every instance).

        `nodes` is the node in every row that instantiates it (one node outside blocks);
        `nm(suffix)` is the Python expression of a layer name; `value(hint, values)` is a
        literal when all instances agree, else a parameter of the block function."""
        return [Line(dst, c) for c in self.calls(nodes, src, dst, nm, cout, value)]

    def calls(
        self, nodes: list[Node], src: str, dst: str, nm: Namer, cout: str, value: Valuer
    ) -> list[Call]:
        node = nodes[0]
        a = node.attrs
        ins: list[Shape] = [self.graph.nodes[n.inputs[0]].shape or () for n in nodes]
        for n in nodes:
            self.out_layer[n.name] = self.claim(n)
        if isinstance(a, ops.Conv):
            return [self.conv(nodes, a, ins, src, nm, cout)]
        if isinstance(a, ops.SepConv):
            return self.sepconv(nodes, a, ins, src, dst, nm, cout)
        if isinstance(a, ops.Norm) and a.folded:  # fold_bn: its separable conv applies it
            return [Call("layers.Identity", (f"name={nm('')}",), src)]
        if isinstance(a, ops.Norm):
            for n in nodes:
                self.weight_layers[n.name] = {"bn": n.name}
            return [Call("layers.BatchNormalization", (*_norm_args(a.norm), f"name={nm('')}"), src)]
        if isinstance(a, ops.Act):
            return [Call("layers.ReLU", (f"name={nm('')}",), src)]
        if isinstance(a, ops.Pool):
            return self.pool(nodes, ins, src, dst, nm, value)
        if isinstance(a, ops.AdaptiveAvgPool):
            return [self.adaptive(nodes, a, ins, src, nm)]
        if isinstance(a, ops.LRN):
            self.custom.add("LocalResponseNorm")
            floats = (
                f"{k}={float_literal(v)}"
                for k, v in (("alpha", a.alpha), ("beta", a.beta), ("k", a.k))
            )
            return [Call("LocalResponseNorm", (str(a.size), *floats, f"name={nm('')}"), src)]
        if isinstance(a, ops.Dropout):
            return [Call("layers.Dropout", (float_literal(a.p), f"name={nm('')}"), src)]
        if isinstance(a, ops.Flatten):
            return [self.flatten(nodes, ins, src, nm)]
        if isinstance(a, ops.Linear):
            for n in nodes:
                self.weight_layers[n.name] = {"linear": n.name}
            args = [src, cout]
            if a.act == "relu":
                args.append('activation="relu"')
            if not a.bias:
                args.append("use_bias=False")
            return [Call("dense", (*args, f"name={nm('')}"))]
        raise AssertionError(f"no Keras layer for {node.op}")

    def flatten(self, nodes: list[Node], ins: list[Shape], src: str, nm: Namer) -> Call:
        # torch flattens C x H x W; with one position or one channel the orders agree
        if any(s[0] > 1 and s[1] * s[2] > 1 for s in ins):
            self.custom.add("flatten_chw")
            for n in nodes:
                self.claim(n, "_chw")
            return Call("flatten_chw", (src, f"name={nm('')}"))
        return Call("layers.Flatten", (f"name={nm('')}",), src)

    def conv(
        self, nodes: list[Node], a: ops.Conv, ins: list[Shape], src: str, nm: Namer, cout: str
    ) -> Call:
        h = self.helper(a)
        args = [src, cout, pair_literal(a.kernel)]
        if a.stride != (1, 1):
            args.append(f"strides={pair_literal(a.stride)}")
        paddings = {conv_padding(n, s) for n, s in zip(nodes, ins, strict=True)}
        # rows of a block at different sizes: torch's padding is exact for each of them
        padding = paddings.pop() if len(paddings) == 1 else pair_literal(a.padding)
        if padding:
            args.append(f"padding={padding}")
            if padding != '"same"':
                h.explicit_padding = True
                for n in nodes:
                    self.claim(n, "_pad")
        if a.groups != 1:
            h.grouped = True
            args.append(f"groups={a.groups}")
        if a.bias != h.bias:
            args.append(f"use_bias={a.bias}")
        if a.norm and float_literal(a.norm.eps) != h.epsilon:
            args.append(f"epsilon={float_literal(a.norm.eps)}")
        if a.norm and keras_momentum(a.norm.momentum) != h.momentum:
            args.append(f"momentum={keras_momentum(a.norm.momentum)}")
        for n in nodes:
            names = {"conv": self.claim(n)}
            if h.bn:
                names["bn"] = self.out_layer[n.name] = self.claim(n, "_bn")
            if h.bn and h.relu:
                self.out_layer[n.name] = self.claim(n, "_relu")
            self.weight_layers[n.name] = names
        return Call(h.name, (*args, f"name={nm('')}"))

    def sepconv(
        self,
        nodes: list[Node],
        a: ops.SepConv,
        ins: list[Shape],
        src: str,
        dst: str,
        nm: Namer,
        cout: str,
    ) -> list[Call]:
        """SeparableConv2D (depthwise, then pointwise), then its batch norm and ReLU."""
        calls: list[Call] = []
        args = [cout, pair_literal(a.kernel)]
        if a.stride != (1, 1):
            args.append(f"strides={pair_literal(a.stride)}")
        paddings = {conv_padding(n, s) for n, s in zip(nodes, ins, strict=True)}
        padding = paddings.pop() if len(paddings) == 1 else pair_literal(a.padding)
        if padding == '"same"':
            args.append('padding="same"')
        elif padding:  # torch's symmetric padding
            for n in nodes:
                self.claim(n, "_pad")
            calls.append(Call("layers.ZeroPadding2D", (padding, f"name={nm('_pad')}"), src))
            src = dst
        args.append(f"use_bias={a.bias}")
        calls.append(Call("layers.SeparableConv2D", (*args, f"name={nm('')}"), src))
        for n in nodes:
            names = {"depthwise": self.claim(n), "pointwise": self.claim(n)}
            if a.norm:
                names["bn"] = self.out_layer[n.name] = self.claim(n, "_bn")
            if a.act == "relu":
                self.out_layer[n.name] = self.claim(n, "_relu")
            self.weight_layers[n.name] = names
        if a.norm:
            norm = (*_norm_args(a.norm), f"name={nm('_bn')}")
            calls.append(Call("layers.BatchNormalization", norm, dst))
        if a.act == "relu":
            calls.append(Call("layers.ReLU", (f"name={nm('_relu')}",), dst))
        return calls

    def adaptive(
        self, nodes: list[Node], a: ops.AdaptiveAvgPool, ins: list[Shape], src: str, nm: Namer
    ) -> Call:
        forms = {adaptive_form(n, s) for n, s in zip(nodes, ins, strict=True)}
        form = forms.pop() if len(forms) == 1 else "adaptive"
        if form == "global":
            keep = () if nodes[0].name in self.squeezed else ("keepdims=True",)
            return Call("layers.GlobalAveragePooling2D", (*keep, f"name={nm('')}"), src)
        if form == "adaptive":
            self.custom.add("AdaptiveAveragePooling2D")
            return Call("AdaptiveAveragePooling2D", (str(a.size), f"name={nm('')}"), src)
        return Call("layers.AveragePooling2D", (form, f"name={nm('')}"), src)

    def pool(
        self, nodes: list[Node], ins: list[Shape], src: str, dst: str, nm: Namer, value: Valuer
    ) -> list[Call]:
        a = nodes[0].attrs
        assert isinstance(a, ops.Pool)
        forms = [pool_form(n, s) for n, s in zip(nodes, ins, strict=True)]
        if len(set(forms)) > 1:  # a global pool is a valid one too
            forms = [("valid" if f == "global" else f, p) for f, p in forms]
        if len(set(forms)) == 1:
            form, pads = forms[0][0], repr(forms[0][1])
        else:  # instances differ in size: the explicit form is exact for each of them
            form, pads = "pad", value("pads", [p for _, p in forms])
        pool = "layers.MaxPooling2D" if a.kind == "max" else "layers.AveragePooling2D"
        args = (pair_literal(a.kernel), f"strides={pair_literal(a.stride)}")
        if form == "global":  # GlobalAveragePooling2D / GlobalMaxPooling2D
            keep = () if nodes[0].name in self.squeezed else ("keepdims=True",)
            return [Call(pool.replace(".", ".Global", 1), (*keep, f"name={nm('')}"), src)]
        if form == "valid":
            return [Call(pool, (*args, f"name={nm('')}"), src)]
        if form == "same":
            return [Call(pool, (*args, 'padding="same"', f"name={nm('')}"), src)]
        if form == "zeropad" or a.kind == "max":  # a padding layer before the pool
            for n in nodes:
                self.claim(n, "_pad")
        if form == "zeropad":
            top, _, left, _ = forms[0][1]
            pad = Call(
                "layers.ZeroPadding2D", (pair_literal((top, left)), f"name={nm('_pad')}"), src
            )
            return [pad, Call(pool, (*args, f"name={nm('')}"), dst)]
        if a.kind == "max":
            self.custom.add("ConstantPadding2D")
            pad = Call(
                "ConstantPadding2D", (pads, 'value=float("-inf")', f"name={nm('_pad')}"), src
            )
            return [pad, Call(pool, (*args, f"name={nm('')}"), dst)]
        self.custom.add("PaddedAveragePooling2D")
        kernel, stride = repr(tuple(a.kernel)), repr(tuple(a.stride))
        include = f"count_include_pad={a.count_include_pad}"
        return [
            Call("PaddedAveragePooling2D", (kernel, stride, pads, include, f"name={nm('')}"), src)
        ]


def _norm_args(norm: ops.BatchNorm) -> tuple[str, ...]:
    args = (f"epsilon={float_literal(norm.eps)}", f"momentum={keras_momentum(norm.momentum)}")
    return args if norm.scale else (*args, "scale=False")
