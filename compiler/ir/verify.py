"""The IR verifier, run after lowering and after every pass.

It checks what every later stage relies on and names the failing node and the pass
after which it failed. A failure here is a compiler bug, not a spec problem.

The rules are the verifier's own: nothing here calls the `ops` shape, parameter or MAC
functions that inference runs. A shape is checked by counting the windows that fit
rather than by the closed form `ops` uses, a concatenation by adding its inputs'
channels, a layer's parameters by counting its weights. So a wrong rule in `ops` (or a
pass that rewrites a node badly) disagrees with the verifier instead of with itself.

What is checked depends on the facts established so far (`FACTS`): structure always,
shapes and counts once `infer` has run, declared outputs once `check_outputs` has.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..errors import Code, SpecError
from . import ops
from .graph import Graph, Node, Row

#: Facts a pass may establish; the verifier checks each from then on.
SHAPES = "shapes"  # every node's shape, parameter count and MACs
DECLARED = "declared"  # every row's declared `output` equals its inferred shape
FACTS = (SHAPES, DECLARED)


class _Broken(Exception):
    """One violated invariant, raised by a rule and located by `verify`."""


def verify(graph: Graph, facts: Collection[str] = (), *, after: str = "lower") -> Graph:
    """Return `graph` if it holds every invariant of `facts`; else raise error[internal]."""
    where = f"IR verifier, after {after!r}"
    seen: set[str] = set()
    readers = graph.readers()
    for name, node in graph.nodes.items():
        try:
            _structure(graph, name, node, seen)
            _folded(graph, node, readers[name])
        except _Broken as exc:
            raise SpecError(Code.INTERNAL, f"{where}: node {name!r}: {exc}", node.loc) from None
        if SHAPES in facts:
            verify_node(graph.nodes, node, after=after)
        seen.add(name)
    for row in (*graph.rows, *graph.aux_heads):
        try:
            _row(graph, row, DECLARED in facts)
        except _Broken as exc:
            raise SpecError(Code.INTERNAL, f"{where}: row {row.name!r}: {exc}", row.loc) from None
    owned = {n for row in (*graph.rows, *graph.aux_heads) for n in row.nodes}
    stray = sorted(set(graph.nodes) - owned - {graph.input.name})
    if stray:
        node = graph.nodes[stray[0]]
        raise SpecError(Code.INTERNAL, f"{where}: node {node.name!r}: belongs to no row", node.loc)
    return graph


# -- structure ---------------------------------------------------------------------------


def _structure(graph: Graph, name: str, node: Node, seen: set[str]) -> None:
    if name != node.name:
        raise _Broken(f"stored under the name {name!r}")
    if (not seen) != isinstance(node.attrs, ops.Input):
        raise _Broken("the input node must come first, and only once")
    for src in node.inputs:
        if src not in seen:
            raise _Broken(f"reads {src!r}, which is not defined before it")
    count = len(node.inputs)
    if isinstance(node.attrs, ops.Input):
        fits, wanted = count == 0, "none"
    elif isinstance(node.attrs, ops.Concat):
        fits, wanted = count >= 2, "two or more"
    elif isinstance(node.attrs, ops.Add):
        fits, wanted = count == 2, "two"
    else:
        fits, wanted = count == 1, "one"
    if not fits:
        raise _Broken(f"{node.op} with {count} inputs (it takes {wanted})")


def _folded(graph: Graph, node: Node, readers: list[Node]) -> None:
    """fold_bn's marks agree: a folded conv has a bias and no norm; a separable conv's
    folded norm is the one node reading it, a `bn` marked folded (an identity)."""
    a = node.attrs
    if isinstance(a, ops.Conv | ops.SepConv) and a.folded is not None:
        if a.norm is not None or not a.bias:
            raise _Broken("has a folded batch norm but keeps its norm or lacks a bias")
    if isinstance(a, ops.SepConv) and a.folded is not None:
        norm = readers[0].attrs if len(readers) == 1 else None
        if not isinstance(norm, ops.Norm) or not norm.folded or norm.norm != a.folded:
            raise _Broken("has a folded batch norm, but not one folded bn layer alone reads it")
    if isinstance(a, ops.Norm) and a.folded:
        source = graph.nodes[node.inputs[0]].attrs
        if not isinstance(source, ops.SepConv) or source.folded != a.norm:
            raise _Broken("is a folded bn, but the separable conv it reads did not fold it")


def _row(graph: Graph, row: Row, declared: bool) -> None:
    for n in row.nodes:
        if n not in graph.nodes or graph.nodes[n].row != row.name:
            raise _Broken(f"lists {n!r}, which is not one of its nodes")
    if row.output not in row.nodes or row.input not in graph.nodes:
        raise _Broken("is not wired (its output is not its own, or its input is missing)")
    if row.template is not None:
        template = graph.templates.get(row.template)
        if template is None or set(template.params) != set(row.args):
            raise _Broken(f"arguments {sorted(row.args)} do not fit template {row.template!r}")
    if row.tap is not None:
        taps = [r.output for r in graph.rows if r.name == row.tap]
        if taps != [row.input]:
            raise _Broken(f"taps {row.tap!r} but reads {row.input!r}")
    shape = graph.nodes[row.output].shape
    if declared and row.declared is not None and shape != row.declared:
        raise _Broken(f"declared output {row.declared} but its output node has {shape}")


# -- shapes, parameters and MACs, by the verifier's own rules ---------------------------------


def verify_node(nodes: Mapping[str, Node], node: Node, *, after: str) -> None:
    """Check one node's shape, parameters and MACs against its inputs in `nodes`.
    Inference calls this on each node as it goes, so a wrong rule is reported at the
    first node it gets wrong, not as a user error at some later node."""
    try:
        _shapes(nodes, node)
    except _Broken as exc:
        message = f"IR verifier, after {after!r}: node {node.name!r}: {exc}"
        raise SpecError(Code.INTERNAL, message, node.loc) from None


def _shapes(nodes: Mapping[str, Node], node: Node) -> None:
    out = node.shape
    if out is None:
        raise _Broken("has no inferred shape")
    if len(out) not in (1, 3) or not all(type(d) is int and d >= 1 for d in out):
        raise _Broken(f"shape {out} is not C x H x W or F with positive sizes")
    ins = [nodes[i].shape for i in node.inputs]
    if any(s is None for s in ins):
        raise _Broken("an input has no shape")
    expected = _expected_shape(node.attrs, ins, out)  # type: ignore[arg-type]
    if expected != out:
        raise _Broken(f"shape {out}, but its inputs {ins} give {expected} by the verifier's rule")
    params, macs = _counts(node.attrs, out)
    if (node.params, node.macs) != (params, macs):
        raise _Broken(
            f"{node.params} parameters and {node.macs} MACs; "
            f"its layer holds {params} and computes {macs}"
        )


def _image(ins: list[ops.Shape], index: int = 0) -> tuple[int, int, int]:
    shape = ins[index]
    if len(shape) != 3:
        raise _Broken(f"reads a flat tensor {shape} where it needs C x H x W")
    return shape[0], shape[1], shape[2]


def _windows(size: int, kernel: int, stride: int, pad: int, ceil: bool, out: int) -> bool:
    """Whether `out` windows is right: window t (starting at t * stride in the padded
    input) is kept while it fits (floor mode), or while it starts before the padded end
    would need another window, and inside the input or its left padding (ceil mode)."""

    def kept(t: int) -> bool:
        start, padded = t * stride, size + 2 * pad
        if not ceil:
            return start + kernel <= padded
        return start + kernel < padded + stride and start < size + pad

    return out >= 1 and kept(out - 1) and not kept(out)


def _expected_shape(attrs: ops.Op, ins: list[ops.Shape], out: ops.Shape) -> ops.Shape:
    """The output shape the verifier accepts for `attrs` on `ins`. Spatial sizes are
    checked by counting windows (`_windows`), so `out`'s own H x W is the candidate."""
    if isinstance(attrs, ops.Input):
        return attrs.shape
    if isinstance(attrs, ops.Concat):
        images = [_image(ins, i) for i in range(len(ins))]
        if len({(h, w) for _, h, w in images}) != 1:
            raise _Broken(f"concatenates inputs of different sizes {ins}")
        return (sum(c for c, _, _ in images), images[0][1], images[0][2])
    if isinstance(attrs, ops.Linear):
        if len(ins[0]) != 1 or attrs.in_features != ins[0][0]:
            raise _Broken(f"in_features {attrs.in_features} but its input is {ins[0]}")
        return (attrs.out,)
    if isinstance(attrs, ops.Dropout | ops.Act):
        return ins[0]
    if isinstance(attrs, ops.Add):
        if ins[0] != ins[1]:
            raise _Broken(f"adds inputs of different shapes {ins}")
        return ins[1]
    c, h, w = _image(ins)
    if isinstance(attrs, ops.Norm):
        if attrs.channels != c:
            raise _Broken(f"normalizes {attrs.channels} channels but its input has {c}")
        return (c, h, w)
    if isinstance(attrs, ops.Flatten):
        return (c * h * w,)
    if isinstance(attrs, ops.LRN):
        return (c, h, w)
    if isinstance(attrs, ops.AdaptiveAvgPool):
        return (c, *attrs.size)
    if isinstance(attrs, ops.Slice):
        if attrs.start + attrs.size > c:
            raise _Broken(f"slices channels {attrs.start}..{attrs.start + attrs.size} of {c}")
        return (attrs.size, h, w)
    if isinstance(attrs, ops.Conv | ops.SepConv) and attrs.in_channels != c:
        raise _Broken(f"in_channels {attrs.in_channels} but its input has {c} channels")
    if len(out) != 3:
        raise _Broken(f"a {attrs.op} gives C x H x W, not {out}")
    ceil = isinstance(attrs, ops.Pool) and attrs.ceil_mode
    for axis, size in ((0, h), (1, w)):
        k, s, p = attrs.kernel[axis], attrs.stride[axis], attrs.padding[axis]  # type: ignore[union-attr]
        if not _windows(size, k, s, p, ceil, out[1 + axis]):
            mode, side = "ceil" if ceil else "floor", ("height", "width")[axis]
            raise _Broken(
                f"shape {out}, but a {k}-wide window, stride {s}, padding {p} ({mode} mode) "
                f"does not fit {out[1 + axis]} times on its input's {side} {size}"
            )
    return (attrs.out if isinstance(attrs, ops.Conv | ops.SepConv) else c, out[1], out[2])


def _counts(attrs: ops.Op, out: ops.Shape) -> tuple[int, int]:
    """(parameters, MACs): weights and biases of a conv (BN: gamma and beta) or linear
    layer; one MAC per weight per output position."""
    norm = getattr(attrs, "norm", None)
    gamma_beta = 0 if norm is None else 2 if norm.scale else 1
    if isinstance(attrs, ops.Norm) and attrs.folded:
        gamma_beta = 0  # an identity now: its sepconv holds the bias
    if isinstance(attrs, ops.Conv):
        taps = attrs.kernel[0] * attrs.kernel[1]
        weights = sum(attrs.in_channels // attrs.groups * taps for _ in range(attrs.out))
        extra = attrs.out * (int(attrs.bias) + gamma_beta)
        return weights + extra, weights * out[1] * out[2]
    if isinstance(attrs, ops.SepConv):  # one filter per input channel, then a 1x1
        weights = attrs.in_channels * (attrs.kernel[0] * attrs.kernel[1] + attrs.out)
        extra = attrs.out * (int(attrs.bias) + gamma_beta)
        return weights + extra, weights * out[1] * out[2]
    if isinstance(attrs, ops.Norm):
        return out[0] * gamma_beta, 0
    if isinstance(attrs, ops.Linear):
        weights = attrs.out * attrs.in_features
        return weights + (attrs.out if attrs.bias else 0), weights
    return 0, 0
