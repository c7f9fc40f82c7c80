"""Tables that fit the terminal without cutting a number.

rich shrinks a table wider than the console by cutting cells (`9,4…`). A table here is
instead split by columns: the key columns (a row's name) open every part, and the other
columns follow in order, as many per part as fit the width, a group of columns (Table 1's
six filter counts) kept in one part where it fits in one. Only a key that does not fit
beside even one column folds; a number is never cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # numbers are right-aligned
    group: int = 0  # columns of one group stay in one part where they fit in one


@dataclass(frozen=True)
class Grid:
    """A table's content: columns, rows of cells, and the rows a rule goes above."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Text]]
    sections: frozenset[int] = frozenset()  # indices of rows with a rule above them
    keys: int = 1  # leading columns repeated in every part


def new_table(title: str | None) -> Table:
    """The house style of every incept table: title on the left, no outer frame."""
    return Table(
        title=title, title_justify="left", show_edge=False, pad_edge=False, highlight=False
    )


def _table(grid: Grid, picked: Sequence[int], title: str | None, fold_keys: bool) -> Table:
    out = new_table(title)
    for i in picked:
        column = grid.columns[i]
        folds = fold_keys and i < grid.keys
        out.add_column(
            column.header,
            justify="right" if column.right else "left",
            no_wrap=not folds,
            overflow="fold",
        )
    for n, row in enumerate(grid.rows):
        if n in grid.sections:
            out.add_section()
        out.add_row(*(row[i] for i in picked))
    return out


def _width(console: Console, table: Table) -> int:
    """The table's natural width: every cell on one line."""
    return Measurement.get(console, console.options.update_width(10**6), table).maximum


def tables(grid: Grid, console: Console) -> list[Table]:
    """`grid` as one table if it fits `console.width`, else as parts that each fit."""
    keys = list(range(grid.keys))

    def fits(picked: list[int]) -> bool:
        return _width(console, _table(grid, picked, None, False)) <= console.width

    parts: list[list[int]] = [list(keys)]
    for group in _groups(grid):
        if fits(parts[-1] + group):
            parts[-1] += group
            continue
        if len(parts[-1]) > len(keys):  # the group starts a new part
            parts.append(list(keys))
        chunks = _split(group, lambda chunk: fits(keys + chunk))
        parts[-1] += chunks[0]
        parts += [keys + chunk for chunk in chunks[1:]]
    return [
        _table(
            grid,
            part,
            grid.title if n == 0 else None,
            _width(console, _table(grid, part, None, False)) > console.width,
        )
        for n, part in enumerate(parts)
    ]


def _groups(grid: Grid) -> list[list[int]]:
    """The non-key columns' indices, in runs of one group."""
    runs: list[list[int]] = []
    for i in range(grid.keys, len(grid.columns)):
        if runs and grid.columns[runs[-1][-1]].group == grid.columns[i].group:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _split(group: list[int], fits: Callable[[list[int]], bool]) -> list[list[int]]:
    """`group` in the fewest runs of near-equal length that each fit (single columns
    always count as fitting: their key folds)."""
    for k in range(1, len(group)):
        size = -(-len(group) // k)
        chunks = [group[i : i + size] for i in range(0, len(group), size)]
        if all(fits(chunk) for chunk in chunks):
            return chunks
    return [[i] for i in group]


def print_grid(grid: Grid, console: Console) -> None:
    """Print `grid` in as few parts as fit, a blank line between parts."""
    for n, table in enumerate(tables(grid, console)):
        if n:
            console.print()
        console.print(table)
