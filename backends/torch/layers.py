"""One IR layer -> its torch constructor call and its forward() step."""

from __future__ import annotations

from dataclasses import dataclass

from incept.compiler.ir import ops
from incept.compiler.ir.graph import Node

from ..common import float_literal, pair_literal
from ..plan import ConvUnit


@dataclass(frozen=True)
class Call:
    """A constructor call: `callee(args...)`; the template joins the arguments."""

    callee: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One line of forward(): `out = self.attr(src)` (a linear layer may apply its ReLU),
    `out = torch.cat([...], 1)` when `cat` is set, or an aux head run only in training."""

    out: str
    attr: str = ""
    src: str = "x"
    relu: bool = False
    cat: tuple[str, ...] = ()
    aux: bool = False
    comment: str = ""
    split: tuple[str, ...] = ()  # `a, b = torch.split(self.attr(src), self.sizes, 1)`
    sizes: str = ""
    # A residual add, `out = src * scale + short`; relu: then a ReLU; act: the name of an
    # activation argument deciding the ReLU at run time.
    short: str = ""
    scale: str = ""
    act: str = ""


@dataclass
class UnitView:
    """A conv unit class: Conv2d, optional BatchNorm2d, optional ReLU."""

    name: str
    bn: bool
    relu: bool
    bias: bool  # the constructor's defaults
    eps: float
    momentum: float
    folded: bool = False  # the norm is folded into the conv (fold_bn); eps maps checkpoints
    scale: bool = True  # False: the norm is a BatchNorm2dNoScale
    grouped: bool = False  # some convolution of the unit has groups (the constructor takes it)


def unit_view(name: str, unit: ConvUnit) -> UnitView:
    eps, momentum = (unit.norm.eps, unit.norm.momentum) if unit.norm else (1e-5, 0.1)
    return UnitView(name, unit.bn, unit.relu, unit.bias, eps, momentum, unit.folded, unit.scale)


def constructor(
    node: Node,
    unit: UnitView | None,
    cin: str,
    cout: str,
    separable: bool = False,
    in_place: bool = False,
) -> Call:
    """The layer's module; `cin`/`cout` are channel expressions (maybe parameters).
    `separable`: max pools are SeparableMaxPool2d (option separable_maxpool); `in_place`:
    a ReLU may overwrite its input (nothing else reads it)."""
    a = node.attrs
    if isinstance(a, ops.Conv):  # without a unit: no norm, no activation
        return _bare_conv(a, cin, cout) if unit is None else _conv(a, unit, cin, cout)
    if isinstance(a, ops.SepConv):
        return _sepconv(a, cin, cout)
    if isinstance(a, ops.Norm):  # folded (fold_bn): its separable conv applies it
        return Call("nn.Identity") if a.folded else _norm(a.norm, cout)
    if isinstance(a, ops.Act):
        return Call("nn.ReLU", ("inplace=True",) if in_place else ())
    if isinstance(a, ops.Pool):
        return _pool(a, separable)
    if isinstance(a, ops.AdaptiveAvgPool):
        return Call("nn.AdaptiveAvgPool2d", (str(a.size),))
    if isinstance(a, ops.LRN):
        floats = (
            f"{k}={float_literal(v)}" for k, v in (("alpha", a.alpha), ("beta", a.beta), ("k", a.k))
        )
        return Call("nn.LocalResponseNorm", (str(a.size), *floats))
    if isinstance(a, ops.Dropout):
        return Call("nn.Dropout", (f"p={float_literal(a.p)}",))
    if isinstance(a, ops.Flatten):
        return Call("nn.Flatten")
    if isinstance(a, ops.Linear):
        return Call("nn.Linear", (cin, cout) if a.bias else (cin, cout, "bias=False"))
    raise AssertionError(f"no torch module for {node.op}")


def _conv_geometry(a: ops.Conv, cin: str, cout: str) -> list[str]:
    """nn.Conv2d's channel, kernel, stride, padding and groups arguments (defaults left out)."""
    args = [cin, cout, f"kernel_size={pair_literal(a.kernel)}"]
    if a.stride != (1, 1):
        args.append(f"stride={pair_literal(a.stride)}")
    if a.padding != (0, 0):
        args.append(f"padding={pair_literal(a.padding)}")
    if a.groups != 1:
        args.append(f"groups={a.groups}")
    return args


def _conv(a: ops.Conv, unit: UnitView, cin: str, cout: str) -> Call:
    args = _conv_geometry(a, cin, cout)
    if a.bias != unit.bias:
        args.append(f"bias={a.bias}")
    norm = a.norm or a.folded
    if norm and norm.eps != unit.eps:
        args.append(f"eps={float_literal(norm.eps)}")
    if a.norm and a.norm.momentum != unit.momentum:
        args.append(f"momentum={float_literal(a.norm.momentum)}")
    return Call(unit.name, tuple(args))


def _bare_conv(a: ops.Conv, cin: str, cout: str) -> Call:
    args = _conv_geometry(a, cin, cout)
    if not a.bias:
        args.append("bias=False")
    return Call("nn.Conv2d", tuple(args))


def _norm(norm: ops.BatchNorm, channels: str) -> Call:
    args = [channels, f"eps={float_literal(norm.eps)}"]
    if norm.momentum != 0.1:
        args.append(f"momentum={float_literal(norm.momentum)}")
    return Call("nn.BatchNorm2d" if norm.scale else "BatchNorm2dNoScale", tuple(args))


def _sepconv(a: ops.SepConv, cin: str, cout: str) -> Call:
    """SeparableConv2d; with a norm or an activation, an nn.Sequential of it and them."""
    args = [cin, cout, f"kernel_size={pair_literal(a.kernel)}"]
    if a.stride != (1, 1):
        args.append(f"stride={pair_literal(a.stride)}")
    if a.padding != (0, 0):
        args.append(f"padding={pair_literal(a.padding)}")
    if a.bias:
        args.append("bias=True")
    conv = Call("SeparableConv2d", tuple(args))
    if a.norm is None and a.act == "none":
        return conv
    parts = [conv, *([_norm(a.norm, cout)] if a.norm else [])]
    parts += [Call("nn.ReLU")] if a.act == "relu" else []
    return Call("nn.Sequential", tuple(f"{p.callee}({', '.join(p.args)})" for p in parts))


def _pool(a: ops.Pool, separable: bool) -> Call:
    args = [pair_literal(a.kernel), f"stride={pair_literal(a.stride)}"]
    if a.padding != (0, 0):
        args.append(f"padding={pair_literal(a.padding)}")
    if a.ceil_mode:
        args.append("ceil_mode=True")
    if a.kind == "avg" and not a.count_include_pad:
        args.append("count_include_pad=False")
    if separable and a.kind == "max":
        return Call("SeparableMaxPool2d", tuple(args))
    return Call("nn.MaxPool2d" if a.kind == "max" else "nn.AvgPool2d", tuple(args))


def linear_relu(node: Node) -> bool:
    """A linear layer applies its ReLU in forward() (nn.Linear has none)."""
    return isinstance(node.attrs, ops.Linear) and node.attrs.act == "relu"
