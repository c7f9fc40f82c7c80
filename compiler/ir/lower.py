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

    def resolve(
        self, value: int | str, env: dict[str, int], path: DataPath
    ) -> tuple[int, str | None]:
        """A channel count, or a `$ref` looked up in the block's arguments."""
        if isinstance(value, int):
            return value, None
        ref = value[1:]
        if ref not in env:
            known = ", ".join(f"${k}" for k in env) or "none"
            hint = did_you_mean(value, [f"${k}" for k in env])
            raise self.fail(
                Code.UNKNOWN_REF, f"unknown reference {value} (known: {known}){hint}", path
            )
        return env[ref], ref

    def attrs(self, layer: s.LayerBase, env: dict[str, int], path: DataPath) -> ops.Op:
        d = self.spec.defaults
        if isinstance(layer, s.Conv):
            out, ref = self.resolve(layer.out, env, (*path, "out"))
            if ref is None:  # block arguments arrive scaled already; globals never scale
                out = self.scale(out, (*path, "out"))
            norm = layer.norm or d.conv.norm
            return ops.Conv(
                out=out,
                kernel=_pair(layer.kernel),
                stride=_pair(layer.stride),
                padding=_pair(layer.padding),
                bias=d.conv.bias if layer.bias is None else layer.bias,
                norm=ops.BatchNorm(float(d.bn.eps), float(d.bn.momentum)) if norm == "bn" else None,
                act=layer.act or d.conv.act,
            )
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

    def out_ref(self, layer: s.LayerBase, env: dict[str, int], path: DataPath) -> str | None:
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
        args = self.block_args(call, block, path)
        env = {**{g: getattr(self.spec, g) for g in GLOBALS}, **args}
        loc = self.src.loc(path)
        names: list[str] = []
        locals_: set[str] = set()

        def lower_branches(
            branches: dict[str, list[Any]], bpath: DataPath, top: str | None, feed: str
        ) -> list[str]:
            """Lower each branch from `feed`; return the node ending each one."""
            ends = []
            for branch, layers in branches.items():
                cur = feed
                for j, layer in enumerate(layers):
                    lpath = (*bpath, branch, j)
                    local = layer.name or f"{branch}_{j}"
                    if local in locals_:  # a template bug: point at the template, not the row
                        raise self.fail(
                            Code.DUPLICATE_NAME,
                            f"block {call.op!r} has two layers named {local!r}",
                            (*lpath, "name"),
                        )
                    locals_.add(local)
                    if isinstance(layer, s.Split):
                        if block.layout != "flat":
                            raise self.fail(
                                Code.VALUE,
                                "a split inside a branch needs the block's `layout: flat`",
                                (*lpath, "op"),
                            )
                        inner = lower_branches(
                            layer.branches, (*lpath, "branches"), top or branch, cur
                        )
                        node = Node(
                            f"{name}_{local}",
                            ops.Concat(),
                            tuple(inner),
                            loc,
                            row=name,
                            branch=top or branch,
                            layer=local,
                        )
                    else:
                        node = Node(
                            name=f"{name}_{local}",
                            attrs=self.attrs(layer, env, lpath),
                            inputs=(cur,),
                            loc=loc,
                            row=name,
                            branch=top or branch,
                            layer=local,
                            out_ref=self.out_ref(layer, env, lpath),
                        )
                    cur = self.add(node, (*path, "name"))
                    names.append(cur)
                ends.append(cur)
            return ends

        ends = lower_branches(block.branches, ("blocks", call.op, "branches"), None, feed)
        if len(ends) > 1:
            concat = Node(
                f"{name}_output", ops.Concat(), tuple(ends), loc, row=name, layer="output"
            )
            names.append(self.add(concat, (*path, "name")))
        return self._row(call, name, call.op, tuple(names), feed, names[-1], path, call.op, args)

    def block_args(self, call: s.BlockRow, block: s.BlockDef, path: DataPath) -> dict[str, int]:
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
        for key, value in given.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise self.fail(
                    Code.TYPE, f"{key}: expected a positive integer, got {value!r}", (*path, key)
                )
            if value > limits.MAX_CHANNELS:
                raise self.fail(
                    Code.VALUE,
                    f"{key}: at most {limits.MAX_CHANNELS} channels, got {value}",
                    (*path, key),
                )
        # Block arguments are channel counts (Table 1's columns): they scale with the width.
        return {k: self.scale(v, (*path, k)) for k, v in given.items()}

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
        args: dict[str, int] | None = None,
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
        )


def lower(spec: s.Spec, source: Source) -> Graph:
    return _Lowering(spec, source).lower()
