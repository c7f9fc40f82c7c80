"""The pass list and the IR verifier: passes are named where they run (`--dump-ir`,
verifier messages), and the verifier's own rules catch a wrong rule in `ops` and name
the node, whichever rule it is."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import GOOGLENET

from incept.compiler import passes
from incept.compiler.cli import main
from incept.compiler.errors import Code, SpecError
from incept.compiler.ir import ops
from incept.compiler.ir.verify import DECLARED, SHAPES, _windows, verify
from incept.compiler.pipeline import build_graph

TINY = """\
name: tiny
input: {channels: 3, size: 8}
num_classes: 10
blocks:
  mix:
    params: [a, b]
    branches:
      left:
        - {op: conv, name: c1, out: $a, kernel: 1}
      right:
        - {op: maxpool, name: p, kernel: 3, stride: 1, padding: 1, ceil_mode: true}
        - {op: conv, name: c3, out: $b, kernel: 3, padding: 1}
layers:
  - {name: stem, op: conv, out: 4, kernel: 3, stride: 2, output: 3x3x4}
  - {name: mix1, op: mix, a: 2, b: 3, output: 3x3x5}
  - {op: flatten}
  - {name: fc, op: linear, out: $num_classes}
"""

#: `incept check tiny.yaml --dump-ir lower`, byte for byte.
TINY_LOWERED = """\
# IR of tiny after lower
graph tiny class=Tiny num_classes=10 aux_logits=false init=initscheme(weights=default, std=0.01, bias=none)
template mix(a, b) branches=left,right layout=branches
input: input(shape=3x8x8) <- - -> ?
row stem = conv <- input declared=4x3x3
  stem: conv(out=4, kernel=3x3, stride=2x2, padding=0x0, bias=true, norm=none, act=relu, in_channels=0) <- input -> ?
row mix1 = mix(a=2, b=3) <- stem declared=5x3x3
  mix1_c1 [left]: conv(out=2, kernel=1x1, stride=1x1, padding=0x0, bias=true, norm=none, act=relu, in_channels=0) <- stem -> ?
  mix1_p [right]: pool(kind=max, kernel=3x3, stride=1x1, padding=1x1, ceil_mode=true, count_include_pad=true) <- stem -> ?
  mix1_c3 [right]: conv(out=3, kernel=3x3, stride=1x1, padding=1x1, bias=true, norm=none, act=relu, in_channels=0) <- mix1_p -> ?
  mix1_output: concat() <- mix1_c1, mix1_c3 -> ?
row flatten2 = flatten <- mix1_output
  flatten2: flatten() <- mix1_output -> ?
row fc = linear <- flatten2
  fc: linear(out=10, bias=true, act=none, in_features=0) <- flatten2 -> ?
"""  # noqa: E501


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    return "tiny.yaml"


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="incept")


# -- pass names and --dump-ir -------------------------------------------------------------


def test_stage_names_are_the_pass_list():
    assert passes.stage_names() == [
        "lower",
        "infer",
        "check_outputs",
        "fuse_siblings",
        "fold_bn",
    ]
    assert passes.stage_names(()) == ["lower", "infer", "check_outputs"]
    assert passes.stage_names(["fold_bn"]) == ["lower", "infer", "check_outputs", "fold_bn"]
    assert [p.name for p in passes.PIPELINE] == ["infer", "check_outputs"]
    assert [p.name for p in passes.OPTIMIZATIONS] == ["fuse_siblings", "fold_bn"]


def test_dump_ir_after_lowering(tiny):
    result = run("check", tiny, "--dump-ir", "lower")
    assert result.exit_code == 0, result.output
    assert result.stdout == TINY_LOWERED + "tiny: ok, 693 params (693 with aux heads), 0.00 GMACs\n"


def test_dump_ir_after_a_pass_has_shapes_and_counts(tiny):
    result = run("check", tiny, "--dump-ir", "infer")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# IR of tiny after infer"
    assert (
        "  mix1_output: concat() <- mix1_c1, mix1_c3 -> 5x3x3 params=0 macs=0" in lines
    )  # 2 + 3 channels
    assert "total params=693 with_aux=693 macs=2466 with_aux=2466" in lines


def test_dump_ir_is_stable_and_compile_prints_it_too(tiny, tmp_path):
    first = run("check", tiny, "--dump-ir", "check_outputs").stdout
    again = run("check", tiny, "--dump-ir", "check_outputs").stdout
    assert first == again
    result = run("compile", tiny, "-b", "torch", "-o", "out.py", "--dump-ir", "check_outputs")
    assert result.exit_code == 0, result.output
    assert first.startswith(result.stdout)  # compile prints the dump, no summary line
    assert result.stdout.startswith("# IR of tiny after check_outputs\n")
    assert (tmp_path / "out.py").exists()


def test_dump_ir_is_printed_before_a_later_pass_fails(tiny, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY.replace("output: 3x3x5", "output: 3x3x6"))
    result = run("check", tiny, "--dump-ir", "infer")
    assert result.exit_code == 2
    assert result.stdout.startswith("# IR of tiny after infer\n")
    assert result.stderr == (
        "tiny.yaml:15:5: error[output]: mix1: declared output 3x3x6 but the branches give "
        "2 + 3 = 5 channels\n"
    )


def test_dump_ir_unknown_pass_is_a_usage_error(tiny, tmp_path):
    for command in (["check", tiny], ["compile", tiny, "-b", "torch", "-o", "out.py"]):
        result = run(*command, "--dump-ir", "inferr")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"incept {command[0]}: error[usage]: Invalid value for '--dump-ir': unknown pass "
            f"'inferr' (passes: lower, infer, check_outputs, fuse_siblings, fold_bn) (see 'incept {command[0]} --help')\n"
        )
    assert not (tmp_path / "out.py").exists()


# -- the verifier catches a wrong rule in ops, naming the node -------------------------------


def _internal(monkeypatch, path=GOOGLENET) -> str:
    with pytest.raises(SpecError) as info:
        build_graph(path)
    assert info.value.code is Code.INTERNAL
    return str(info.value)


def test_wrong_concat_rule(monkeypatch):
    def widest(self, shapes):  # max of the branches' channels instead of their sum
        return (max(s[0] for s in shapes), *shapes[0][1:])

    monkeypatch.setattr(ops.Concat, "infer", widest)
    assert _internal(monkeypatch).endswith(
        "error[internal]: IR verifier, after 'infer': node 'inception_3a_output': shape "
        "(128, 28, 28), but its inputs [(64, 28, 28), (128, 28, 28), (32, 28, 28), "
        "(32, 28, 28)] give (256, 28, 28) by the verifier's rule"
    )


def test_wrong_pooling_rule(monkeypatch):
    def floor_only(size, kernel, stride, pad, ceil_mode):  # forgets ceil mode
        return (size + 2 * pad - kernel) // stride + 1

    monkeypatch.setattr(ops, "pool_out", floor_only)
    assert _internal(monkeypatch).endswith(
        "error[internal]: IR verifier, after 'infer': node 'pool1': shape (64, 55, 55), but "
        "a 3-wide window, stride 2, padding 0 (ceil mode) does not fit 55 times on its "
        "input's height 112"
    )


def test_wrong_conv_rule(monkeypatch):
    def no_padding(self, shapes):
        _, h, w = shapes[0]
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return (self.out, (h - kh) // sh + 1, (w - kw) // sw + 1)

    monkeypatch.setattr(ops.Conv, "infer", no_padding)
    message = _internal(monkeypatch)
    assert "IR verifier, after 'infer': node 'conv1': shape (64, 109, 109), but a 7-wide " in (
        message
    )


def test_wrong_parameter_rule(monkeypatch):
    monkeypatch.setattr(ops.Conv, "params", lambda self: self.out * self.in_channels)
    assert _internal(monkeypatch).endswith(
        "node 'conv1': 192 parameters and 118013952 MACs; its layer holds 9472 and "
        "computes 118013952"
    )


def test_wrong_input_binding(monkeypatch):
    monkeypatch.setattr(ops, "bind_inputs", lambda attrs, shapes: attrs)  # in_channels stay 0
    assert _internal(monkeypatch).endswith(
        "node 'conv1': in_channels 0 but its input has 3 channels"
    )


def test_a_pass_that_breaks_declared_outputs_is_named(monkeypatch):
    def shrink(graph):
        row = graph.rows[0]
        rows = (replace(row, declared=(1, 1, 1)), *graph.rows[1:])
        return replace(graph, rows=rows)

    extra = passes.Pass("shrink", shrink, "a broken pass")
    monkeypatch.setattr(passes, "PIPELINE", [*passes.PIPELINE, extra])
    assert _internal(monkeypatch).endswith(
        "error[internal]: IR verifier, after 'shrink': row 'conv1': declared output (1, 1, 1) "
        "but its output node has (64, 112, 112)"
    )


def test_verifier_checks_facts_only_once_established(googlenet):
    row = googlenet.rows[0]
    wrong = replace(googlenet, rows=(replace(row, declared=(1, 1, 1)), *googlenet.rows[1:]))
    assert verify(wrong, {SHAPES}) is wrong  # before check_outputs: not yet a fact
    with pytest.raises(SpecError, match="row 'conv1': declared output"):
        verify(wrong, {SHAPES, DECLARED})
    node = googlenet.nodes["conv1"]
    unshaped = replace(googlenet, nodes={**googlenet.nodes, "conv1": replace(node, shape=None)})
    assert verify(unshaped, ()) is unshaped
    with pytest.raises(SpecError, match="node 'conv1': has no inferred shape"):
        verify(unshaped, {SHAPES})


def test_verifier_rejects_non_positive_sizes(googlenet):
    node = googlenet.nodes["pool1"]
    broken = replace(
        googlenet, nodes={**googlenet.nodes, "pool1": replace(node, shape=(64, 0, 56))}
    )
    with pytest.raises(SpecError, match=r"node 'pool1': shape \(64, 0, 56\) is not C x H x W"):
        verify(broken, {SHAPES})


def test_window_rule_agrees_with_ops_pool_out():
    """Two independent formulations (counting windows; the closed form in ops) agree on
    every small case that has at least one window."""
    cases = 0
    for size, kernel, stride, ceil in itertools.product(
        range(1, 20), range(1, 8), range(1, 5), (False, True)
    ):
        for pad in range(kernel // 2 + 1):
            out = ops.pool_out(size, kernel, stride, pad, ceil)
            if out >= 1:
                cases += 1
                assert _windows(size, kernel, stride, pad, ceil, out), (size, kernel, stride, pad)
                assert not _windows(size, kernel, stride, pad, ceil, out + 1)
                assert not _windows(size, kernel, stride, pad, ceil, out - 1)
    assert cases == 2676
