"""Every error code, end to end through the CLI: the exact `path:line:col: error[code]: message`
line on stderr, exit status 2, no traceback, nothing written.

Specs are written to tmp_path and run from there, so the path in each line is the one
typed on the command line ("bad.yaml"). Line and column point at the offending token;
the comments in each spec say which.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

from incept.compiler import passes
from incept.compiler.cli import main
from incept.compiler.errors import Code, SpecError
from incept.compiler.ir import verify
from incept.compiler.ir.verify import SHAPES

#: Lines 1-3 of most specs below; layers start on line 5.
HEAD = """\
name: tiny
input: {channels: 3, size: 8}
num_classes: 10
"""

#: Lines 1-11: a two-branch block template; `layers:` is line 12, its first row line 13.
BLOCK = """\
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
        - {op: conv, name: c3, out: $b, kernel: 3, padding: 1}
"""


def run(args: list[str]):
    return CliRunner().invoke(main, args)


def fails(tmp_path, monkeypatch, text: str | bytes, name: str = "bad.yaml", status: int = 2) -> str:
    """Run compile, check and table on the spec; all three must fail the same way
    (exit `status`). Returns the single error line."""
    monkeypatch.chdir(tmp_path)
    if isinstance(text, bytes):
        (tmp_path / name).write_bytes(text)
    else:
        (tmp_path / name).write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    lines = set()
    for args in (
        ["compile", name, "--backend", "torch", "-o", "out.py"],
        ["compile", name, "--backend", "keras"],
        ["check", name],
        ["table", name, "--format", "json"],
    ):
        result = run(args)
        assert result.exit_code == status, (args, result.output)
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
        assert result.stdout == ""
        assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
        lines.add(result.stderr.rstrip("\n"))
    assert len(lines) == 1, lines
    # compile wrote nothing: no output, no generated/ folder, no temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    return lines.pop()


# -- io, yaml, duplicate-key: reading the file ----------------------------------------


def test_io_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(["compile", "nope.yaml", "--backend", "torch"])
    assert result.exit_code == 2
    assert (
        result.stderr == "nope.yaml:1:1: error[io]: cannot read spec: No such file or directory\n"
    )
    assert not (tmp_path / "generated").exists()


def test_io_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specdir").mkdir()
    result = run(["check", "specdir"])
    assert result.exit_code == 2
    assert result.stderr == "specdir:1:1: error[io]: cannot read spec: Is a directory\n"


def test_yaml_malformed(tmp_path, monkeypatch):
    # line 5: a missing comma; the parser stops at the second ':' (column 20).
    text = HEAD + "layers:\n  - {name: conv1 op: conv: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:20: error[yaml]: expected ',' or '}', but got ':'"
    )


def test_yaml_tab(tmp_path, monkeypatch):
    text = HEAD + "layers:\n\t- {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:1: error[yaml]: found character '\\t' that cannot start any token"
    )


def test_yaml_not_utf8(tmp_path, monkeypatch):
    # byte 0xff is the 7th character of line 2
    text = b"name: tiny\ninput: \xff\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:2:8: error[yaml]: spec is not UTF-8 text: invalid start byte"
    )


def test_yaml_control_character(tmp_path, monkeypatch):
    text = "name: ti\x07ny\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:1:9: error[yaml]: unacceptable character #x0007: special characters are not allowed"
    )


def test_duplicate_key(tmp_path, monkeypatch):
    text = HEAD + "num_classes: 11\nlayers:\n  - {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        'bad.yaml:4:1: error[duplicate-key]: found duplicate key "num_classes" with value "11" '
        '(original value: "10")'
    )


def test_duplicate_key_nested(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: 8, out: 9, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        'bad.yaml:5:24: error[duplicate-key]: found duplicate key "out" with value "9" '
        '(original value: "8")'
    )


def test_yaml_merge_keys_have_positions(tmp_path, monkeypatch):
    # Keys merged in with `<<:` used to crash the position map (KeyError).
    text = "name: tiny\nnum_classes: 10\ninput: {<<: {channels: 3}, size: 8}\nlayers: []\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:9: error[value]: layers: needs at least 1 item, got 0"
    )


# -- schema: unknown-key, missing-key, type, value -------------------------------------


def test_unknown_key(tmp_path, monkeypatch):
    # column 35: the key `strid`, not its value
    text = HEAD + "layers:\n  - {op: conv, out: 8, kernel: 3, strid: 2}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:35: error[unknown-key]: unknown key 'strid' in row 'conv0' "
        "(did you mean 'stride'?)"
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (  # a named row is named, a typo gets the closest allowed key
            "  - {name: stem, op: conv, out: 8, kernel: 3, bais: false}\n",
            "13:47: error[unknown-key]: unknown key 'bais' in row 'stem' (did you mean 'bias'?)",
        ),
        (  # inside a row's mapping
            "  - {name: fc, op: flatten, paper: {param: 1}}\n",
            "13:37: error[unknown-key]: unknown key 'param' in paper of row 'fc' "
            "(did you mean 'params'?)",
        ),
        (  # an unnamed row: the compiler's own name for it, <op><index>
            "  - {op: flatten}\n  - {op: maxpool, kernal: 2}\n",
            "14:19: error[unknown-key]: unknown key 'kernal' in row 'maxpool1' "
            "(did you mean 'kernel'?)",
        ),
        (  # an aux head, and nothing close enough to suggest
            "  - {name: m, op: mix, a: 1, b: 1}\naux_heads:\n"
            "  - {name: aux, op: mix, a: 1, b: 1, from: m}\n",
            "15:5: error[missing-key]: missing key 'loss_weight' in aux head 'aux'",
        ),
    ],
)
def test_errors_name_rows_by_name(tmp_path, monkeypatch, rows, expected):
    assert fails(tmp_path, monkeypatch, BLOCK + "layers:\n" + rows) == f"bad.yaml:{expected}"


def test_template_layer_named_in_errors(tmp_path, monkeypatch):
    text = BLOCK.replace("out: $b, kernel: 3,", "out: $b, kernel: 3, strides: 1,")
    assert fails(tmp_path, monkeypatch, text + "layers:\n  - {op: mix, a: 1, b: 1}\n") == (
        "bad.yaml:11:52: error[unknown-key]: unknown key 'strides' in layer 'c3' of block "
        "'mix' (did you mean 'stride'?)"
    )


def test_unknown_top_level_key(tmp_path, monkeypatch):
    text = HEAD + "layer:\n  - {op: flatten}\n"
    line = fails(tmp_path, monkeypatch, text)
    # `layer` is `layers` misspelt: reported as the unknown key, not as `layers` missing
    assert line == (
        "bad.yaml:4:1: error[unknown-key]: unknown key 'layer' in the spec (did you mean 'layers'?)"
    )
    text = HEAD + "layers:\n  - {op: flatten}\nlayer_count: 3\n"
    assert fails(tmp_path, monkeypatch, text) == (  # nothing close: no suggestion
        "bad.yaml:6:1: error[unknown-key]: unknown key 'layer_count' in the spec"
    )


def test_missing_key(tmp_path, monkeypatch):
    # a conv without `out:`: reported at the layer's mapping
    text = HEAD + "layers:\n  - {op: conv, kernel: 3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[missing-key]: missing key 'out' in row 'conv0'"
    )


def test_missing_op(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: c, out: 8, kernel: 3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[missing-key]: a layer needs `op:` (one of conv, maxpool, avgpool, "
        "adaptive_avgpool, lrn, dropout, flatten, linear, sepconv, bn, relu, "
        "or a block name from `blocks:`)"
    )


def test_missing_layers(tmp_path, monkeypatch):
    assert fails(tmp_path, monkeypatch, HEAD) == (
        "bad.yaml:1:1: error[missing-key]: missing key 'layers' in the spec"
    )


def test_type_string_for_int(tmp_path, monkeypatch):
    text = HEAD + 'layers:\n  - {op: conv, out: 8, kernel: "3"}\n'
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:32: error[type]: kernel: expected an integer or a pair [height, width] "
        "(got '3')"
    )


def test_type_list_for_mapping(tmp_path, monkeypatch):
    text = "name: tiny\ninput: [3, 8]\nnum_classes: 10\nlayers:\n  - {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:2:8: error[type]: input: expected a mapping (got [3, 8])"
    )


def test_type_mapping_for_list(tmp_path, monkeypatch):
    text = HEAD + "layers: {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:9: error[type]: layers: expected a list (got {'op': 'flatten'})"
    )


@pytest.mark.parametrize("text", ["- name: tiny\n", "just a string\n", "", "# only a comment\n"])
def test_type_spec_not_a_mapping(tmp_path, monkeypatch, text):
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:1:1: error[type]: a spec is a YAML mapping (name:, input:, layers:, ...)"
    )


def test_type_layer_not_a_mapping(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - flatten\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[type]: a layer is a mapping with `op:`, got 'flatten'"
    )


def test_type_op_not_a_string(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: 3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:10: error[type]: op: expected a layer or block name, got 3"
    )


def test_type_float_channels(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: 8.0, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:21: error[type]: out: expected a positive integer or a $reference like "
        "$ch1x1 (got 8.0)"
    )


def test_type_block_argument(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: x}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:36: error[type]: b: expected a positive integer, got 'x'"
    )


def test_value_out_of_range(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: dropout, p: 1.5}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:22: error[value]: p: must be less than 1 (got 1.5)"
    )


def test_value_kernel_triple(tmp_path, monkeypatch):
    # A list is the pair alternative of `int | [h, w]`: say what is wrong with the pair,
    # not that it is not an integer.
    text = HEAD + "layers:\n  - {op: conv, out: 8, kernel: [1, 2, 3]}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:32: error[value]: kernel: takes at most 2 items, got 3"
    )


def test_value_pair_item(tmp_path, monkeypatch):
    # column 47: the 0 inside the pair
    text = HEAD + "layers:\n  - {op: conv, out: 8, kernel: 3, stride: [1, 0]}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:47: error[value]: stride[1]: must be greater than 0 (got 0)"
    )


def test_value_empty_layers(tmp_path, monkeypatch):
    text = HEAD + "layers: []\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:9: error[value]: layers: needs at least 1 item, got 0"
    )


def test_value_bad_reference_syntax(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: num, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:21: error[value]: out: expected a positive integer or a $reference like "
        "$ch1x1 (got 'num')"
    )


def test_value_output_format(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: flatten, output: 8x8}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:27: error[value]: output: output must read HxWxC like 28x28x256, got '8x8'"
    )


# -- lowering: unknown-op, block-args, unknown-ref, duplicate-name, unknown-row -------


def test_unknown_op(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: f, op: flaten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:19: error[unknown-op]: unknown op 'flaten': not a layer (conv, maxpool, "
        "avgpool, adaptive_avgpool, lrn, dropout, flatten, linear, sepconv, bn, relu) nor a block (mix) "
        "(did you mean 'flatten'?)"
    )


def test_unknown_op_nested_block(tmp_path, monkeypatch):
    # blocks do not nest: a template layer must be a primitive (line 9, the op's value)
    text = BLOCK.replace("{op: conv, name: c1, out: $a, kernel: 1}", "{op: mix, a: 1, b: 1}")
    text += "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:9:16: error[unknown-op]: unknown op 'mix' in a block template: template "
        "layers are conv, maxpool, avgpool, adaptive_avgpool, lrn, dropout, flatten, linear, sepconv, bn, relu"
    )


def test_unknown_op_aux_head_layer(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\naux_heads:\n"
    text += "  - {name: aux, from: mix1, op: conv, out: 3, kernel: 1, loss_weight: 0.3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:15:33: error[unknown-op]: an aux head instantiates a block from `blocks:`, "
        "not the layer op 'conv'"
    )


def test_block_args_extra(tmp_path, monkeypatch):
    # column 39: the extra key `c`
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4, c: 2}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:39: error[block-args]: block 'mix' has no parameter 'c' (parameters: a, b)"
    )


def test_block_args_missing(tmp_path, monkeypatch):
    # column 22: the value of the row's `op: mix`
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:22: error[block-args]: block 'mix' needs b"
    )


def test_unknown_ref_in_template(tmp_path, monkeypatch):
    # line 11 column 37: `$bb` in the template, not the row that instantiates it
    text = (
        BLOCK.replace("out: $b,", "out: $bb,") + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\n"
    )
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:11:37: error[unknown-ref]: unknown reference $bb (known: $num_classes, $a, $b, $in_channels) "
        "(did you mean '$b'?)"
    )


def test_unknown_ref_outside_template(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: $a, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:21: error[unknown-ref]: unknown reference $a (known: $num_classes, $in_channels)"
    )


def test_duplicate_row_name(tmp_path, monkeypatch):
    text = (
        HEAD + "layers:\n  - {name: c, op: conv, out: 8, kernel: 1}\n  - {name: c, op: flatten}\n"
    )
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:6:12: error[duplicate-name]: row name 'c' is already used (line 5)"
    )


def test_duplicate_row_name_block_then_layer(tmp_path, monkeypatch):
    # The block's nodes are mix1_c1, mix1_c3, ...: only the row names collide.
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\n  - {name: mix1, op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:14:12: error[duplicate-name]: row name 'mix1' is already used (line 13)"
    )


def test_duplicate_name_aux_head_and_row(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\naux_heads:\n"
    text += "  - {name: mix1, from: mix1, op: mix, a: 1, b: 1, loss_weight: 0.3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:15:12: error[duplicate-name]: row name 'mix1' is already used (line 13)"
    )


def test_duplicate_layer_name_in_template(tmp_path, monkeypatch):
    text = (
        BLOCK.replace("name: c3", "name: c1") + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\n"
    )
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:11:28: error[duplicate-name]: block 'mix' has two layers named 'c1'"
    )


def test_unknown_row(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\naux_heads:\n"
    text += "  - {name: aux, from: nope, op: mix, a: 1, b: 1, loss_weight: 0.3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:15:23: error[unknown-row]: aux head taps unknown row 'nope'"
    )


# -- passes: collapse, output, concat, rank, pool-padding --------------------------------


def test_collapse(tmp_path, monkeypatch):
    text = "name: tiny\ninput: {channels: 3, size: 4}\nnum_classes: 10\nlayers:\n"
    text += "  - {name: big, op: conv, out: 8, kernel: 7}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[collapse]: big: conv output would be -2x-2: 7x7 kernel, "
        "padding 0x0, on a 4x4 input"
    )


def test_collapse_pool(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: p, op: maxpool, kernel: 16}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[collapse]: p: maxpool output would be 0x0: 16x16/16 window on a "
        "8x8 input"
    )


def test_output_mismatch_shows_branch_sum(tmp_path, monkeypatch):
    # Table 1's 3a: the branches give 64 + 128 + 32 + 32 = 256, not the declared 250.
    text = """\
name: tiny
input: {channels: 192, size: 28}
num_classes: 10
blocks:
  inception:
    params: [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj]
    branches:
      b1: [{op: conv, out: $ch1x1, kernel: 1}]
      b2: [{op: conv, out: $ch3x3red, kernel: 1}, {op: conv, out: $ch3x3, kernel: 3, padding: 1}]
      b3: [{op: conv, out: $ch5x5red, kernel: 1}, {op: conv, out: $ch5x5, kernel: 5, padding: 2}]
      b4: [{op: maxpool, kernel: 3, stride: 1, padding: 1}, {op: conv, out: $pool_proj, kernel: 1}]
layers:
  - {name: i3a, op: inception, ch1x1: 64, ch3x3red: 96, ch3x3: 128, ch5x5red: 16, ch5x5: 32, pool_proj: 32, output: 28x28x250}
"""
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:5: error[output]: i3a: declared output 28x28x250 but the branches give "
        "64 + 128 + 32 + 32 = 256 channels"
    )


def test_output_mismatch_spatial(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: c, op: conv, out: 8, kernel: 3, output: 8x8x8}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[output]: c: declared output 8x8x8 but inferred 6x6x8"
    )


def test_concat_mismatch(tmp_path, monkeypatch):
    text = BLOCK.replace("padding: 1}", "padding: 1, stride: 2}")
    text += "layers:\n  - {name: mix1, op: mix, a: 4, b: 4}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:5: error[concat]: mix1: branches disagree on spatial size: 8x8, 4x4"
    )


def test_rank_linear_without_flatten(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: fc, op: linear, out: $num_classes}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[rank]: fc: linear needs flat features, got [3, 8, 8] (add a flatten)"
    )


def test_rank_conv_after_flatten(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: flatten}\n  - {name: c, op: conv, out: 8, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:6:5: error[rank]: c: conv needs a C x H x W input, got flat features [192]"
    )


def test_rank_inside_block(tmp_path, monkeypatch):
    # the row is located; the message names the template layer and branch
    text = BLOCK + "layers:\n  - {op: flatten}\n  - {name: mix1, op: mix, a: 4, b: 4}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:14:5: error[rank]: mix1: layer 'c1' in branch 'left': conv needs a "
        "C x H x W input, got flat features [192]"
    )


def test_pool_padding(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: p, op: maxpool, kernel: 3, padding: 2}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[pool-padding]: p: pool padding 2x2 exceeds half the 3x3 kernel"
    )


#: Lines 1-12: a residual template whose branches give $a + $b channels, projected back.
RESIDUAL = """\
name: tiny
input: {channels: 3, size: 8}
num_classes: 10
blocks:
  res:
    params: [a, b, s, f]
    branches:
      left: [{op: conv, name: c1, out: $a, kernel: 1}]
      right: [{op: conv, name: c3, out: $b, kernel: 3, padding: 1}]
    after: [{op: conv, name: up, out: $in_channels, kernel: 1}]
    residual: {scale: $s, act: $f}
"""


def test_groups(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {name: dw, op: conv, out: 8, kernel: 3, groups: 2}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:5: error[groups]: dw: 2 groups need input and output channels divisible "
        "by 2, got 3 in and 8 out"
    )


def test_residual_shape_mismatch(tmp_path, monkeypatch):
    # the projection gives 6 channels where the shortcut (the block's input) has 3
    text = RESIDUAL.replace("out: $in_channels", "out: 6")
    text += "layers:\n  - {name: r1, op: res, a: 4, b: 4, s: 0.5, f: relu}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:5: error[residual]: r1: the residual branch gives 8x8x6 but the shortcut 8x8x3"
    )


def test_repeat_changes_shape(tmp_path, monkeypatch):
    text = BLOCK + "layers:\n  - {name: mix1, op: mix, a: 4, b: 4, repeat: 3}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:5: error[repeat]: mix1: a repeated block must keep its input's shape, "
        "but it turns 8x8x3 into 8x8x8"
    )


def test_residual_scale_argument_type(tmp_path, monkeypatch):
    text = RESIDUAL + "layers:\n  - {name: r1, op: res, a: 4, b: 4, s: big, f: relu}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:40: error[type]: s: expected a positive number (a scale), got 'big'"
    )


def test_residual_act_argument_value(tmp_path, monkeypatch):
    text = RESIDUAL + "layers:\n  - {name: r1, op: res, a: 4, b: 4, s: 1, f: rleu}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:13:46: error[value]: f: expected an activation, 'relu' or 'none', got "
        "'rleu' (did you mean 'relu'?)"
    )


def test_scale_parameter_used_as_channels(tmp_path, monkeypatch):
    text = RESIDUAL.replace("out: $a", "out: $s")
    text += "layers:\n  - {name: r1, op: res, a: 4, b: 4, s: 0.5, f: relu}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:8:40: error[type]: $s is a scale, not a channel count"
    )


# -- hardening: limit, yaml-tag, yaml-alias, non-finite, text, nfkc ---------------------


def test_limit_file_size(tmp_path, monkeypatch):
    from incept.compiler.limits import MAX_FILE_BYTES

    text = HEAD + "layers:\n  - {op: flatten}\n" + "#" * MAX_FILE_BYTES
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:1:1: error[limit]: the spec file is larger than 256 KiB"
    )


def test_limit_channels_after_width(tmp_path, monkeypatch):
    # 40000 channels are allowed; times 2 they are not.
    text = HEAD + "width_multiplier: 2\nlayers:\n  - {op: conv, out: 40000, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:6:21: error[limit]: width_multiplier 2 makes 40000 channels 80,000, "
        "more than 65,536"
    )


def test_value_channels_upper_bound(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: 1000000000000, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:21: error[value]: out: must be at most 65536 (got 1000000000000)"
    )


def test_yaml_tag(tmp_path, monkeypatch):
    text = HEAD + "layers: !!python/object/apply:os.system [echo hi]\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:9: error[yaml-tag]: YAML tags are not allowed in a spec "
        "(found tag:yaml.org,2002:python/object/apply:os.system): specs are plain data"
    )


def test_yaml_alias_recursive(tmp_path, monkeypatch):
    text = HEAD + "layers: &rows\n  - {op: flatten}\n  - *rows\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:6:5: error[yaml-alias]: alias *rows is inside the node it names "
        "(it would never end)"
    )


def test_yaml_alias_used_within_bounds(tmp_path, monkeypatch):
    """Aliases are data sharing, not an error: a conv written once and used twice."""
    monkeypatch.chdir(tmp_path)
    text = HEAD + "layers:\n  - &c {op: conv, out: 4, kernel: 1}\n  - *c\n  - {op: flatten}\n"
    (tmp_path / "ok.yaml").write_text(text)
    result = run(["check", "ok.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("tiny: ok, 36 params")  # 3*4+4 and 4*4+4


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "{op: lrn, size: 5, alpha: .inf, beta: 0.75}",
            "5:31: error[non-finite]: numbers must be finite, got inf",
        ),
        ("{op: dropout, p: .nan}", "5:22: error[non-finite]: numbers must be finite, got nan"),
    ],
)
def test_non_finite(tmp_path, monkeypatch, row, expected):
    text = HEAD + f"layers:\n  - {row}\n"
    assert fails(tmp_path, monkeypatch, text) == f"bad.yaml:{expected}"


def test_non_finite_width_multiplier(tmp_path, monkeypatch):
    text = HEAD + "width_multiplier: -.inf\nlayers:\n  - {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:19: error[non-finite]: numbers must be finite, got -inf"
    )


def test_limit_huge_number(tmp_path, monkeypatch):
    text = HEAD + "layers:\n  - {op: conv, out: 1e300, kernel: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:21: error[limit]: numbers are at most 2**53 in size, got 1e+300"
    )


def test_text_nul_in_description(tmp_path, monkeypatch):
    text = HEAD + 'description: "one\\0two"\nlayers:\n  - {op: flatten}\n'
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:4:14: error[text]: character U+0000 (control) is not allowed in spec text"
    )


def test_text_bidi_override_in_doc(tmp_path, monkeypatch):
    text = BLOCK.replace("  mix:\n", '  mix:\n    doc: "abc\\u202Edef"\n')
    text += "layers:\n  - {op: mix, a: 1, b: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:6:10: error[text]: character U+202E (RIGHT-TO-LEFT OVERRIDE) is not allowed "
        "in spec text"
    )


def test_nfkc_branch_name(tmp_path, monkeypatch):
    # "\ufb01" is the ligature fi: Python reads `self.\ufb01x` as `self.fix`.
    text = BLOCK.replace("      left:", "      \ufb01x:") + "layers:\n  - {op: mix, a: 1, b: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:8:7: error[nfkc]: name '\ufb01x' is not NFKC-normalised: Python reads it "
        "as 'fix'; write that"
    )


def test_nfkc_block_name_and_param(tmp_path, monkeypatch):
    text = BLOCK.replace("  mix:", "  \u2168:") + "layers:\n  - {op: \u2168, a: 1, b: 1}\n"
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:3: error[nfkc]: name '\u2168' is not NFKC-normalised: Python reads it "
        "as 'IX'; write that"
    )
    text = BLOCK.replace("[a, b]", "[a, \uff42]")
    assert fails(tmp_path, monkeypatch, text + "layers:\n  - {op: mix, a: 1, b: 1}\n") == (
        "bad.yaml:6:17: error[nfkc]: name '\uff42' is not NFKC-normalised: Python reads it "
        "as 'b'; write that"
    )


def test_error_line_escapes_control_characters(tmp_path, monkeypatch):
    """A message echoes spec values: a newline or ESC in them cannot break the one line."""
    text = HEAD + 'layers:\n  - {op: conv, out: 8, kernel: 1, "a\\nb": 1}\n'
    assert fails(tmp_path, monkeypatch, text) == (
        "bad.yaml:5:35: error[unknown-key]: unknown key 'a\\nb' in row 'conv0'"
    )


# -- internal: unexpected exceptions ----------------------------------------------------


def _boom(*args, **kwargs):
    raise ZeroDivisionError("division by zero")


def test_internal_unexpected_exception(tmp_path, monkeypatch):
    from incept.compiler import cli

    monkeypatch.setattr(cli, "build_graph", _boom)
    text = HEAD + "layers:\n  - {op: flatten}\n"
    assert fails(tmp_path, monkeypatch, text, status=3) == (
        "bad.yaml: error[internal]: ZeroDivisionError: division by zero (a bug in incept: "
        "please report it with this input; `incept --debug ...` shows the traceback)"
    )


def test_internal_debug_shows_traceback(tmp_path, monkeypatch):
    from incept.compiler import cli

    monkeypatch.setattr(cli, "build_graph", _boom)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(HEAD + "layers:\n  - {op: flatten}\n")
    result = run(["--debug", "check", "bad.yaml"])
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in _boom" in result.stderr
    assert lines[-1].startswith("bad.yaml: error[internal]: ZeroDivisionError")


# -- internal: the verifier -----------------------------------------------------------


def _good(tmp_path):
    from incept.compiler.pipeline import build_graph

    path = tmp_path / "good.yaml"
    path.write_text(HEAD + "layers:\n  - {name: c, op: conv, out: 8, kernel: 3}\n")
    return build_graph(path)


def test_internal_verifier_catches_wrong_shape(tmp_path):
    graph = _good(tmp_path)
    node = graph.nodes["c"]
    broken = replace(graph, nodes={**graph.nodes, "c": replace(node, shape=(8, 7, 7))})
    with pytest.raises(SpecError) as info:
        verify(broken, {SHAPES}, after="infer")
    assert info.value.code is Code.INTERNAL
    assert str(info.value) == (
        f"{tmp_path / 'good.yaml'}:5:5: error[internal]: IR verifier, after 'infer': node 'c': "
        "shape (8, 7, 7), but a 3-wide window, stride 1, padding 0 (floor mode) does not fit "
        "7 times on its input's height 8"
    )


def test_internal_verifier_catches_bad_edge(tmp_path):
    graph = _good(tmp_path)
    node = graph.nodes["c"]
    broken = replace(graph, nodes={**graph.nodes, "c": replace(node, inputs=("nowhere",))})
    with pytest.raises(
        SpecError, match=r"error\[internal\]: IR verifier, after 'lower': node 'c': reads 'nowhere'"
    ):
        verify(broken)


def test_internal_through_cli(tmp_path, monkeypatch):
    """A pass that corrupts the graph is caught by the verifier and reported like any error."""

    def corrupt(graph):
        node = graph.nodes["c"]
        return replace(graph, nodes={**graph.nodes, "c": replace(node, params=node.params + 1)})

    corrupting = passes.Pass("corrupt", corrupt, "adds a parameter to node c")
    monkeypatch.setattr(passes, "PIPELINE", [*passes.PIPELINE, corrupting])
    text = HEAD + "layers:\n  - {name: c, op: conv, out: 8, kernel: 3}\n"
    assert fails(tmp_path, monkeypatch, text, status=3) == (
        "bad.yaml:5:5: error[internal]: IR verifier, after 'corrupt': node 'c': 225 parameters "
        "and 7776 MACs; its layer holds 224 and computes 7776"
    )


def test_every_code_is_tested():
    """One test per code: keep this file (and test_inherit.py) in step with the Code enum."""
    from pathlib import Path

    here = Path(__file__).parent
    source = "".join((here / f).read_text() for f in ("test_errors.py", "test_inherit.py"))
    missing = [c.value for c in Code if f"error[{c.value}]" not in source]
    assert not missing


def test_real_process_prints_one_line(tmp_path):
    """The installed entry point, not CliRunner: one stderr line, status 2, no traceback."""
    (tmp_path / "bad.yaml").write_text(HEAD + "layers:\n  - {op: dropout, p: 1.5}\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from incept.compiler.cli import main; main()", "check", "bad.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "bad.yaml:5:22: error[value]: p: must be less than 1 (got 1.5)\n"
