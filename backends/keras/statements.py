"""build()'s body: one statement per main-path row, aux heads after the rows they tap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from incept.compiler.ir import ops
from incept.compiler.ir.shapes import batch_comment

from ..common import py_text
from ..plan import ModulePlan, RowPlan

if TYPE_CHECKING:
    from .layers import Layers


@dataclass(frozen=True)
class Call:
    """`callee(args...)`, applied to `src` when set (a layer: `layers.Dropout(0.4)(x)`)."""

    callee: str
    args: tuple[str, ...]
    src: str | None = None


@dataclass(frozen=True)
class Line:
    """`target = call  # comment`; an aux line stores `call` under the key `target` in
    aux_outputs, under `if aux_logits:`."""

    target: str
    call: Call
    comment: str = ""
    aux: bool = False
    repeat: int = 0  # a repeated row: the call runs in `for i in range(repeat):`
    start: str = ""  # a repeated row's input when not x: `x = start` before the loop

    def commented(self, comment: str) -> Line:
        return Line(self.target, self.call, comment, self.aux, self.repeat, self.start)


def _literal(hint: str, values: list[object]) -> str:
    return repr(values[0])


def row_lines(
    lay: Layers,
    plan: ModulePlan,
    fn_names: dict[str, str],
    calls: dict[str, tuple[str, ...]],
    starts: dict[str, int] | None = None,
    src: str = "inputs",
) -> list[Line]:
    """build()'s statements from `src` (the input, or x: the input re-scaled);
    `starts` receives each row's first statement index."""
    body: list[Line] = []
    held: str | None = None  # a squeezed pool's layer: N x C, while the IR keeps 1 x 1
    aux = {a.row.name: a for a in plan.aux}
    for row in plan.rows:
        if starts is not None:
            starts[row.row.name] = len(body)
        node = row.node
        if row.block and row.row.repeat > 1:  # instance i named `<row>_<i>`, as its IR nodes
            # Each instance takes the one before: x, so the first row's loop starts at x = inputs.
            args = (*calls[row.row.name][:-1], f'name=f"{row.row.name}_{{i}}"')
            call = Call(fn_names[row.block.template.name], ("x", *args))
            start = "" if src == "x" else src
            body.append(Line("x", call, _comment(row, False), repeat=row.row.repeat, start=start))
        elif row.block:
            call = Call(fn_names[row.block.template.name], (src, *calls[row.row.name]))
            body.append(Line("x", call, _comment(row, False)))
        elif held and isinstance(node.attrs, ops.Flatten):
            lay.out_layer[node.name], held = held, None  # already flat: no layer
        else:
            code = lay.apply([node], src, "x", _namer(node.name), _cout(row), _literal)
            if held or node.name in lay.squeezed:  # its output is not the IR's shape
                held = lay.out_layer.pop(node.name)
            body += [*code[:-1], code[-1].commented(_comment(row, held is not None))]
        src = "x"
        for head in row.taps:
            call = Call(fn_names[head.template or ""], ("x", *calls[head.name]))
            key = f'"{py_text(head.name)}"'  # aux_outputs[key]: outputs keep the heads' order
            body.append(Line(key, call, _comment(aux[head.name], False), aux=True))
    return body


def _namer(node: str) -> Callable[[str], str]:
    return lambda suffix: f'"{node}{suffix}"'


def _cout(row: RowPlan) -> str:
    return row.cout.render() if row.cout else ""


def _comment(row: RowPlan, squeezed: bool) -> str:
    shape = row.shape
    if squeezed and shape:
        shape = shape[:1]
    return batch_comment(shape, channels_last=True)
