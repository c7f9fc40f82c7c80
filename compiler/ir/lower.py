"""Lower a validated spec to the IR: expand block rows into branches of nodes.

Lowering fixes structure only (names, ops, edges, locations); shapes, parameters
and MACs are filled in by the `infer` pass.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .. import limits
from ..errors import Code, Loc, SpecError
from ..spec import schema as s
from ..spec.messages import did_you_mean
from ..spec.source import DataPath, Source
from . import ops
from .graph import Graph, InitScheme, Node, Row, Template

#: Names every template may reference besides its own parameters.
GLOBALS = ("num_classes",)
#: `$in_channels`: the channels entering the row (filled in by inference).
IN_CHANNELS = "in_channels"
#: A block argument: channels (int), a residual scale (float) or an activation (str).
Arg = int | float | str
Env = dict[str, Arg]


def _kind(value: Arg) -> str:
    return "activation" if isinstance(value, str) else "scale"


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def camel_case(name: str) -> str:
    """conv_reduce -> ConvReduce: class names from spec and template names."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", name) if part)


class _Lowering:
    def __init__(self, spec: s.Spec, source: Source) -> None:
        self.spec = spec
        self.src = source
        self.nodes: dict[str, Node] = {}
        self.rows: dict[str, Loc] = {}  # row and aux head names -> where each was named

    # -- helpers --------------------------------------------------------------

    def fail(self, code: Code, message: str, path: DataPath, *, key: bool = False) -> SpecError:
        return SpecError(code, message, self.src.key_loc(path) if key else self.src.loc(path))

    def add(self, node: Node, path: DataPath) -> str:
        if node.name in self.nodes:
            raise self.fail(Code.DUPLICATE_NAME, f"node name {node.name!r} is already used", path)
        if len(self.nodes) >= limits.MAX_IR_NODES:  # block rows multiply their templates
            raise self.fail(
                Code.LIMIT, f"the model has more than {limits.MAX_IR_NODES:,} layers", path
            )
        self.nodes[node.name] = node
        return node.name

    def resolve(self, value: int | str, env: Env, path: DataPath) -> tuple[int, str | None]:
        """A channel count, or a `$ref` looked up in the block's arguments. `$in_channels`
        resolves to 0 here: inference fills it in from the row's input."""
        if isinstance(value, int):
            return value, None
        ref = value[1:]
        if ref == IN_CHANNELS:
            return 0, ref
        if ref not in env:
            known = ", ".join(f"${k}" for k in (*env, IN_CHANNELS)) or "none"
            hint = did_you_mean(value, [f"${k}" for k in (*env, IN_CHANNELS)])
            raise self.fail(
                Code.UNKNOWN_REF, f"unknown reference {value} (known: {known}){hint}", path
            )
        found = env[ref]
        if not isinstance(found, int):
            raise self.fail(Code.TYPE, f"{value} is a {_kind(found)}, not a channel count", path)
        return found, ref

    def norm(self, scale: bool | None = None) -> ops.BatchNorm:
        bn = self.spec.defaults.bn
        return ops.BatchNorm(
            float(bn.eps), float(bn.momentum), bn.scale if scale is None else scale
        )

    def attrs(self, layer: s.LayerBase, env: Env, path: DataPath) -> ops.Op:
        d = self.spec.defaults
        if isinstance(layer, s.Conv | s.SepConv):
            out, ref = self.resolve(layer.out, env, (*path, "out"))
            if ref is None:  # block arguments arrive scaled already; globals never scale
                out = self.scale(out, (*path, "out"))
            norm = layer.norm or d.conv.norm
            common = dict(
                out=out,
                kernel=_pair(layer.kernel),
                stride=_pair(layer.stride),
                padding=_pair(layer.padding),
                bias=d.conv.bias if layer.bias is None else layer.bias,
                norm=self.norm() if norm == "bn" else None,
                act=layer.act or d.conv.act,
            )
            if isinstance(layer, s.SepConv):
                return ops.SepConv(**common)  # type: ignore[arg-type]
            return ops.Conv(**common, groups=layer.groups)  # type: ignore[arg-type]
        if isinstance(layer, s.BatchNormLayer):
            return ops.Norm(self.norm(layer.scale))
        if isinstance(layer, s.ReLU):
            return ops.Act()
        if isinstance(layer, s.MaxPool | s.AvgPool):
            return ops.Pool(
                kind="max" if isinstance(layer, s.MaxPool) else "avg",
                kernel=_pair(layer.kernel),
                stride=_pair(layer.stride if layer.stride is not None else layer.kernel),
                padding=_pair(layer.padding),
                ceil_mode=d.pool.ceil_mode if layer.ceil_mode is None else layer.ceil_mode,
                count_include_pad=getattr(layer, "count_include_pad", True),
            )
        if isinstance(layer, s.AdaptiveAvgPool):
            return ops.AdaptiveAvgPool(_pair(layer.size))
        if isinstance(layer, s.LRN):
            return ops.LRN(layer.size, float(layer.alpha), float(layer.beta), float(layer.k))
        if isinstance(layer, s.Dropout):
            return ops.Dropout(float(layer.p))
        if isinstance(layer, s.Flatten):
            return ops.Flatten()
        if isinstance(layer, s.Linear):
            out, _ = self.resolve(layer.out, env, (*path, "out"))
            return ops.Linear(out=out, bias=layer.bias, act=layer.act)
        raise AssertionError(f"unhandled layer {layer!r}")

    def scale(self, channels: int, path: DataPath) -> int:
        """Apply `width_multiplier`, rounding half up and keeping at least one channel."""
        w = self.spec.width_multiplier
        if w == 1:
            return channels
        # Exact arithmetic on the multiplier as written: 0.7 * 45 = 31.5 rounds to 32.
        scaled = max(1, int(Fraction(str(w)) * channels + Fraction(1, 2)))
        if scaled > limits.MAX_CHANNELS:
            raise self.fail(
                Code.LIMIT,
                f"width_multiplier {w} makes {channels} channels {scaled:,}, "
                f"more than {limits.MAX_CHANNELS:,}",
                path,
            )
        return scaled

    def out_ref(self, layer: s.LayerBase, env: Env, path: DataPath) -> str | None:
        value = getattr(layer, "out", None)
        return None if value is None else self.resolve(value, env, (*path, "out"))[1]

    def paper(self, layer: s.LayerBase) -> tuple[float | None, float | None]:
        if layer.paper is None:
            return None, None
        units = self.spec.paper_units
        p, o = layer.paper.params, layer.paper.ops
        return (None if p is None else p * units.params, None if o is None else o * units.ops)

    # -- rows -----------------------------------------------------------------

    def row_name(self, layer: s.LayerBase, index: int, path: DataPath) -> str:
        name = layer.name or f"{layer.op}{index}"
        if not name.isidentifier():
            raise self.fail(
                Code.VALUE,
                f"row name {name!r} must be an identifier (no leading digit)",
                (*path, "name"),
            )
        return name

    def primitive_row(self, layer: s.LayerBase, name: str, feed: str, path: DataPath) -> Row:
        env = {g: getattr(self.spec, g) for g in GLOBALS}
        node = Node(
            name=name,
            attrs=self.attrs(layer, env, path),
            inputs=(feed,),
            loc=self.src.loc(path),
            row=name,
            layer=name,
            out_ref=self.out_ref(layer, env, path),
        )
        self.add(node, (*path, "name"))
        return self._row(layer, name, layer.op, (name,), feed, name, path)

    def block_row(self, call: s.BlockRow, name: str, feed: str, path: DataPath) -> Row:
        block = self.spec.blocks.get(call.op)
        if block is None and call.op in s.PRIMITIVES:  # only aux heads get here with a layer op
            raise self.fail(
                Code.UNKNOWN_OP,
                f"an aux head instantiates a block from `blocks:`, not the layer op {call.op!r}",
                (*path, "op"),
            )
        if block is None:
            known = ", ".join(self.spec.blocks) or "none defined"
            primitives = ", ".join(s.PRIMITIVES)
            raise self.fail(
                Code.UNKNOWN_OP,
                f"unknown op {call.op!r}: not a layer ({primitives}) nor a block ({known})"
                + did_you_mean(call.op, [*s.PRIMITIVES, *self.spec.blocks]),
                (*path, "op"),
            )
        if call.repeat > 1 and isinstance(call, s.AuxHead):
            raise self.fail(Code.VALUE, "an aux head cannot repeat", (*path, "repeat"))
        args = self.block_args(call, block, path)
        env: Env = {**{g: getattr(self.spec, g) for g in GLOBALS}, **args}
        names: list[str] = []
        out = feed
        for i in range(call.repeat):
            prefix = name if call.repeat == 1 else f"{name}_{i}"
            out = _Instance(self, call, block, env, name, prefix, path).lower(out, names)
        return self._row(call, name, call.op, tuple(names), feed, out, path, call.op, args)

    def block_args(self, call: s.BlockRow, block: s.BlockDef, path: DataPath) -> dict[str, Arg]:
        given = call.args
        for key in given:
            if key not in block.params:
                raise self.fail(
                    Code.BLOCK_ARGS,
                    f"block {call.op!r} has no parameter {key!r} "
                    f"(parameters: {', '.join(block.params) or 'none'})"
                    + did_you_mean(key, [*block.params, *type(call).model_fields]),
                    (*path, key),
                    key=True,
                )
        missing = [p for p in block.params if p not in given]
        if missing:
            raise self.fail(
                Code.BLOCK_ARGS, f"block {call.op!r} needs {', '.join(missing)}", (*path, "op")
            )
        kinds = _param_kinds(block)
        args: dict[str, Arg] = {}
        for key, value in given.items():
            args[key] = self.block_arg(key, value, kinds.get(key, "channels"), (*path, key))
        return args

    def block_arg(self, key: str, value: Any, kind: str, path: DataPath) -> Arg:
        """One argument, checked by what the template uses it for. Channel counts (Table
        1's columns) scale with the width; a residual scale or an activation does not."""
        if kind == "scale":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not 0 < value <= limits.MAX_CHANNELS:
                raise self.fail(
                    Code.TYPE, f"{key}: expected a positive number (a scale), got {value!r}", path
                )
            return float(value)
        if kind == "act":
            if value not in ("relu", "none"):
                raise self.fail(
                    Code.VALUE,
                    f"{key}: expected an activation, 'relu' or 'none', got {value!r}"
                    + did_you_mean(value, ("relu", "none")),
                    path,
                )
            return str(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(Code.TYPE, f"{key}: expected a positive integer, got {value!r}", path)
        if value > limits.MAX_CHANNELS:
            raise self.fail(
                Code.VALUE, f"{key}: at most {limits.MAX_CHANNELS} channels, got {value}", path
            )
        return self.scale(value, path)

    def _row(
        self,
        layer: s.LayerBase,
        name: str,
        op: str,
        nodes: tuple[str, ...],
        feed: str,
        output: str,
        path: DataPath,
        template: str | None = None,
        args: dict[str, Arg] | None = None,
    ) -> Row:
        paper_params, paper_ops = self.paper(layer)
        extra: dict[str, Any] = {}
        if isinstance(layer, s.AuxHead):
            extra = dict(tap=layer.tap, loss_weight=float(layer.loss_weight))
        return Row(
            name=name,
            op=op,
            nodes=nodes,
            input=feed,
            output=output,
            loc=self.src.loc(path),
            template=template,
            args=args or {},
            declared=layer.declared_output(),
            repeat=getattr(layer, "repeat", 1),
            paper_params=paper_params,
            paper_ops=paper_ops,
            **extra,
        )

    def row(self, layer: s.LayerBase, name: str, feed: str, path: DataPath) -> Row:
        # Rows and aux heads share one namespace (attributes of the generated model).
        if name in self.rows:
            first = self.rows[name]
            raise self.fail(
                Code.DUPLICATE_NAME,
                f"row name {name!r} is already used (line {first.line})",
                (*path, "name"),
            )
        self.rows[name] = self.src.loc((*path, "name"))
        if isinstance(layer, s.BlockRow):
            return self.block_row(layer, name, feed, path)
        return self.primitive_row(layer, name, feed, path)

    # -- the whole model --------------------------------------------------------

    def lower(self) -> Graph:
        spec = self.spec
        shape = (spec.input.channels, *_pair(spec.input.size))
        feed = self.add(Node("input", ops.Input(shape), (), self.src.loc(("input",)), "input"), ())
        rows: list[Row] = []
        for i, layer in enumerate(spec.layers):
            path = ("layers", i)
            row = self.row(layer, self.row_name(layer, i, path), feed, path)
            rows.append(row)
            feed = row.output
        outputs = {r.name: r.output for r in rows}
        heads: list[Row] = []
        for i, head in enumerate(spec.aux_heads):
            path = ("aux_heads", i)
            if head.tap not in outputs:
                raise self.fail(
                    Code.UNKNOWN_ROW,
                    f"aux head taps unknown row {head.tap!r}" + did_you_mean(head.tap, outputs),
                    (*path, "from"),
                )
            heads.append(self.row(head, self.row_name(head, i, path), outputs[head.tap], path))
        templates = {
            name: Template(
                name=name,
                doc=block.doc,
                params=tuple(block.params),
                branches=tuple(block.branches),
                layout=block.layout,
                loc=self.src.key_loc(("blocks", name)),
                after=tuple(layer.name or f"after_{j}" for j, layer in enumerate(block.after)),
                residual=block.residual is not None,
                shortcut=_shortcut_names(block),
                scale_ref=_ref(block.residual.scale if block.residual else None),
                act_ref=_ref(block.residual.act if block.residual else None),
            )
            for name, block in spec.blocks.items()
        }
        init = spec.init
        return Graph(
            name=spec.name,
            class_name=spec.class_name or camel_case(spec.name),
            description=spec.description,
            spec_path=self.src.path,
            spec_sha256=self.src.sha256,
            num_classes=spec.num_classes,
            aux_logits=spec.aux_logits,
            init=InitScheme(
                init.weights, float(init.std), None if init.bias is None else float(init.bias)
            ),
            nodes=dict(self.nodes),
            rows=tuple(rows),
            aux_heads=tuple(heads),
            templates=templates,
            transform_input=spec.input.transform_input,
        )


def _ref(value: object) -> str | None:
    """`$name` -> name; a literal -> None."""
    return value[1:] if isinstance(value, str) and value.startswith("$") else None


def _shortcut_names(block: s.BlockDef) -> tuple[str, ...]:
    shortcut = block.residual.shortcut if block.residual else "identity"
    if isinstance(shortcut, str):
        return ()
    return tuple(layer.name or f"shortcut_{j}" for j, layer in enumerate(shortcut))


def _param_kinds(block: s.BlockDef) -> dict[str, str]:
    """Template parameters that are not channel counts: a residual's scale and act."""
    kinds: dict[str, str] = {}
    res = block.residual
    if res is not None:
        if isinstance(res.scale, str):
            kinds[res.scale[1:]] = "scale"
        if res.act not in ("relu", "none"):
            kinds[res.act[1:]] = "act"
    return kinds


class _Instance:
    """One instance of a template in a row (a repeated row has several): its nodes are
    named `<prefix>_<layer>`."""

    def __init__(
        self,
        lowering: _Lowering,
        call: s.BlockRow,
        block: s.BlockDef,
        env: Env,
        row: str,
        prefix: str,
        path: DataPath,
    ) -> None:
        self.low, self.call, self.block, self.env = lowering, call, block, env
        self.row, self.prefix, self.path = row, prefix, path
        self.loc = lowering.src.loc(path)
        self.locals: set[str] = set()
        self.names: list[str] = []
        self.tpath: DataPath = ("blocks", call.op)

    def node(self, local: str, attrs: ops.Op, inputs: tuple[str, ...], **kw: Any) -> str:
        node = Node(
            f"{self.prefix}_{local}", attrs, inputs, self.loc, row=self.row, layer=local, **kw
        )
        name = self.low.add(node, (*self.path, "name"))
        self.names.append(name)
        return name

    def local(self, layer: s.LayerBase, default: str, lpath: DataPath) -> str:
        local = layer.name or default
        if local in self.locals:  # a template bug: point at the template, not the row
            raise self.low.fail(
                Code.DUPLICATE_NAME,
                f"block {self.call.op!r} has two layers named {local!r}",
                (*lpath, "name"),
            )
        self.locals.add(local)
        return local

    def sequence(self, layers: list[Any], lpath: DataPath, seq: str, part: str, cur: str) -> str:
        """Lower one sequence of layers from `cur`; return its last node. `seq` names the
        sequence (a branch, a split's sub-branch, `after`, `shortcut`); `part` is the
        template branch the layers belong to, or `after` / `shortcut`."""
        branch = part if part in self.block.branches else None
        for j, layer in enumerate(layers):
            jpath = (*lpath, j)
            local = self.local(layer, f"{seq}_{j}", jpath)
            if isinstance(layer, s.Split):
                if self.block.layout != "flat" or branch is None:
                    raise self.low.fail(
                        Code.VALUE,
                        "a split inside a branch needs the block's `layout: flat`"
                        if branch is not None
                        else "a split belongs in a branch, not after the merge or in a shortcut",
                        (*jpath, "op"),
                    )
                inner = [
                    self.sequence(sub, (*jpath, "branches", key), key, part, cur)
                    for key, sub in layer.branches.items()
                ]
                cur = self.node(local, ops.Concat(), tuple(inner), branch=branch)
            else:
                attrs = self.low.attrs(layer, self.env, jpath)
                ref = self.low.out_ref(layer, self.env, jpath)
                extra = {} if branch else {"part": part}
                cur = self.node(local, attrs, (cur,), branch=branch, out_ref=ref, **extra)
        return cur

    def lower(self, feed: str, names: list[str]) -> str:
        block, tpath = self.block, self.tpath
        ends = [
            self.sequence(layers, (*tpath, "branches", branch), branch, branch, feed)
            for branch, layers in block.branches.items()
        ]
        res = block.residual
        out = ends[0]
        if len(ends) > 1:
            merged = "concat" if block.after or res is not None else "output"
            out = self.node(merged, ops.Concat(), tuple(ends))
        out = (
            self.sequence(block.after, (*tpath, "after"), "after", "after", out)
            if block.after
            else out
        )
        if res is not None:
            short = feed
            if not isinstance(res.shortcut, str):
                rpath = (*tpath, "residual", "shortcut")
                short = self.sequence(res.shortcut, rpath, "shortcut", "shortcut", feed)
            scale = self.env[res.scale[1:]] if isinstance(res.scale, str) else res.scale
            act = self.env[res.act[1:]] if res.act not in ("relu", "none") else res.act
            add = ops.Add(float(scale), act)  # type: ignore[arg-type]
            out = self.node("output", add, (out, short))
        names.extend(self.names)
        return out


def lower(spec: s.Spec, source: Source) -> Graph:
    return _Lowering(spec, source).lower()
