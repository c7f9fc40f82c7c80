"""`incept table` and `incept diff` never cut a number: at 80, 100 and 160 columns every
number of their JSON output appears whole in the text, and no line is wider than the
terminal (narrow terminals get the columns in several tables, the name in each)."""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner
from conftest import ROOT
from rich.console import Console

from incept.compiler import diff, report
from incept.compiler.cli import main
from incept.compiler.pipeline import build_graph

WIDTHS = (80, 100, 160)
TABLE_SPECS = ("googlenet.yaml", "inception-v3.yaml", "googlenet-cifar.yaml")
DIFFS = (("googlenet.yaml", "inception-v3.yaml"), ("googlenet.yaml", "inception-v2.yaml"))


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # specs/... as typed: the titles stay short and the same


def json_of(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rendered(draw, width: int) -> str:
    out = io.StringIO()
    draw(Console(file=out, width=width, markup=False, highlight=False, emoji=False))
    return out.getvalue()


def assert_whole(text: str, numbers: set[str], width: int) -> None:
    assert "…" not in text
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide[0]
    for number in numbers:  # a whole token: no digit or comma glued to either side
        assert re.search(rf"(?<![\d,]){re.escape(number)}(?![\d,])", text), number


def table_numbers(data: dict) -> set[str]:
    keys = ("params", "macs", "paper_params", "paper_ops", *report.COLUMNS)
    numbers = {f"{round(r[k]):,}" for r in data["rows"] for k in keys if r[k]}
    return numbers | {f"{v:,}" for v in data["total"].values()}


def diff_numbers(data: dict) -> set[str]:
    numbers = set()
    for r in data["rows"]:
        numbers |= {f"{r[k]:,}" for k in ("params_a", "params_b", "macs_a", "macs_b") if r[k]}
        numbers |= {f"{r[k]:+,}" for k in ("params_delta", "macs_delta") if r[k]}
    for side in ("total_a", "total_b"):
        numbers |= {f"{v:,}" for v in data[side].values()}
    return numbers


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", TABLE_SPECS)
def test_table_shows_every_number_whole(name, width):
    spec = f"specs/{name}"
    numbers = table_numbers(json_of("table", spec))
    assert len(numbers) > 20
    graph = build_graph(spec)
    text = rendered(lambda console: report.render(graph, console), width)
    assert_whole(text, numbers, width)
    assert text.count("\nname ") + text.startswith("name ") >= 1


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("a", "b"), DIFFS)
def test_diff_shows_every_number_whole(a, b, width):
    spec_a, spec_b = f"specs/{a}", f"specs/{b}"
    numbers = diff_numbers(json_of("diff", spec_a, spec_b))
    graph_a, graph_b = build_graph(spec_a), build_graph(spec_b)
    text = rendered(lambda console: diff.render(graph_a, graph_b, console), width)
    assert_whole(text, numbers, width)


def test_a_wide_terminal_gets_one_table_a_narrow_one_several():
    graph = build_graph("specs/googlenet.yaml")
    wide = rendered(lambda console: report.render(graph, console), 240)
    narrow = rendered(lambda console: report.render(graph, console), 80)
    header = re.compile(r"^name +┃", re.M)
    assert len(header.findall(wide)) == 1
    # 80 columns: the row's description, Table 1's six counts (in two parts), the numbers
    assert len(header.findall(narrow)) == 4
    inception_3a = [line for line in narrow.splitlines() if line.startswith("inception_3a ")]
    assert len(inception_3a) == 4  # the row's name opens every part
