"""IR facts: GoogLeNet's parameter totals, Table 1's output sizes, exact MACs, the pooling
size rule against brute force, and deterministic builds."""

from __future__ import annotations

import itertools

import pytest
from conftest import GOOGLENET

from incept.compiler.ir import ops
from incept.compiler.pipeline import build_graph
from incept.compiler.spec.source import read_source

#: Table 1's "output size" column (H, W, C), copied from the paper, not from the spec.
TABLE1_OUTPUT = {
    "conv1": (112, 112, 64),
    "pool1": (56, 56, 64),
    "conv2": (56, 56, 192),
    "pool2": (28, 28, 192),
    "inception_3a": (28, 28, 256),
    "inception_3b": (28, 28, 480),
    "pool3": (14, 14, 480),
    "inception_4a": (14, 14, 512),
    "inception_4b": (14, 14, 512),
    "inception_4c": (14, 14, 512),
    "inception_4d": (14, 14, 528),
    "inception_4e": (14, 14, 832),
    "pool4": (7, 7, 832),
    "inception_5a": (7, 7, 832),
    "inception_5b": (7, 7, 1024),
    "pool5": (1, 1, 1024),
}


def test_googlenet_params(googlenet):
    # Caffe's bvlc_googlenet, weights + biases
    assert googlenet.params(aux=False) == 6_998_552
    assert googlenet.params(aux=True) == 13_378_280


def test_googlenet_macs_about_one_and_a_half_billion(googlenet):
    # "... about 1.5 billion multiply-adds" (the paper's text)
    assert 1.5e9 <= googlenet.macs() <= 1.6e9
    assert googlenet.macs(aux=True) > googlenet.macs()


def test_output_shapes_match_table1(googlenet):
    shapes = {r.name: googlenet.nodes[r.output].shape for r in googlenet.rows}
    for name, (h, w, c) in TABLE1_OUTPUT.items():
        assert shapes[name] == (c, h, w), name
    assert shapes["conv2"] == (192, 56, 56)
    assert shapes["fc"] == (1000,)


def test_output_shapes_match_spec_declarations(googlenet):
    """Every row's inferred shape is the `output:` written in the spec (read independently)."""
    data = read_source(GOOGLENET).data
    declared = {row["name"]: row["output"] for row in data["layers"] if "output" in row}
    assert len(declared) == len(TABLE1_OUTPUT)
    for row in googlenet.rows:
        if row.name in declared:
            c, h, w = googlenet.nodes[row.output].shape
            assert f"{h}x{w}x{c}" == declared[row.name]


def test_aux_heads_tap_4a_and_4d(googlenet):
    heads = {h.name: h for h in googlenet.aux_heads}
    assert {h.tap for h in heads.values()} == {"inception_4a", "inception_4d"}
    for head in heads.values():
        assert googlenet.nodes[head.output].shape == (1000,)
        pool = googlenet.row_nodes(head)[0]
        assert pool.shape[1:] == (4, 4)  # avg pool 5x5/3 on 14x14


def test_inception_3a_macs_by_hand(googlenet):
    """MACs of 3a from Table 1's filter counts: each conv costs
    in_channels * out_channels * k * k per output position, on a 28x28 grid."""
    row = next(r for r in googlenet.rows if r.name == "inception_3a")
    ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = 64, 96, 128, 16, 32, 32  # Table 1
    assert dict(row.args) == dict(
        ch1x1=ch1x1,
        ch3x3red=ch3x3red,
        ch3x3=ch3x3,
        ch5x5red=ch5x5red,
        ch5x5=ch5x5,
        pool_proj=pool_proj,
    )
    cin, positions = 192, 28 * 28  # pool2's output feeds 3a; 3a's output is 28x28
    per_position = (
        cin * ch1x1  # 1x1 branch
        + cin * ch3x3red
        + ch3x3red * ch3x3 * 3 * 3  # 1x1 reduce -> 3x3
        + cin * ch5x5red
        + ch5x5red * ch5x5 * 5 * 5  # 1x1 reduce -> 5x5
        + cin * pool_proj  # max pool -> 1x1 projection (pooling itself is free)
    )
    macs = sum(n.macs for n in googlenet.row_nodes(row))
    assert macs == per_position * positions == 128_049_152
    biases = ch1x1 + ch3x3red + ch3x3 + ch5x5red + ch5x5 + pool_proj
    assert sum(n.params for n in googlenet.row_nodes(row)) == per_position + biases == 163_696


# -- pooling output size ------------------------------------------------------------


def windows(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Count pooling windows by sliding one, straight from the definitions.

    Positions are in the padded input [0, size + 2 * pad). Floor mode keeps windows that
    fit. Ceil mode keeps sliding while the previous window has not reached the padded end,
    but drops a window that would start in the right padding (torch and Caffe)."""
    padded, count = size + 2 * pad, 0
    for i in itertools.count():
        start = i * stride
        if ceil_mode:
            keep = start < size + pad and (i == 0 or start - stride + kernel < padded)
        else:
            keep = start + kernel <= padded
        if not keep:
            return count
        count += 1
    raise AssertionError("unreachable")


CASES = [
    (size, kernel, stride, pad, ceil_mode)
    for size in range(1, 14)
    for kernel in range(1, 6)
    for stride in range(1, 5)
    for pad in range(0, kernel // 2 + 1)
    for ceil_mode in (False, True)
]


def test_pool_out_matches_brute_force():
    for size, kernel, stride, pad, ceil_mode in CASES:
        got = ops.pool_out(size, kernel, stride, pad, ceil_mode)
        if kernel > size + 2 * pad:
            # No window fits: floor mode collapses; ceil mode follows torch's formula
            # (checked against torch below), which the sliding definition does not pin down.
            assert ceil_mode or got < 1
            continue
        assert got == windows(size, kernel, stride, pad, ceil_mode), (size, kernel, stride, pad)


def test_pool_out_googlenet_cases():
    assert ops.pool_out(112, 3, 2, 0, True) == 56  # pool1, Caffe rounds up
    assert ops.pool_out(112, 3, 2, 0, False) == 55  # floor mode would give 55
    assert ops.pool_out(14, 5, 3, 0, True) == 4  # aux heads' avg pool
    # torch's rule: the last window may not start in the right padding
    assert ops.pool_out(5, 2, 2, 1, True) == 3


def test_pool_pads_reproduce_ceil_mode_in_floor_mode():
    """Explicit (top, bottom, left, right) padding: a floor-mode pool over the padded input
    gives the same windows (same starts, same count), padding only ever added at the end."""
    for size, kernel, stride, pad, ceil_mode in CASES:
        out = ops.pool_out(size, kernel, stride, pad, ceil_mode)
        if out < 1:
            continue
        pool = ops.Pool("max", (kernel, kernel), (stride, stride), (pad, pad), ceil_mode)
        top, bottom, left, right = pool.pads((size, size), (out, out))
        assert (top, left) == (pad, pad)  # window starts unchanged
        assert bottom >= pad and right >= pad
        assert (size + top + bottom - kernel) // stride + 1 == out, (size, kernel, stride, pad)
        # the last window still starts inside the input or its left padding
        assert (out - 1) * stride < size + pad


def test_pool_pads_non_square():
    pool = ops.Pool("avg", (3, 1), (2, 1), (1, 0), True)
    (_, h, w) = pool.infer([(4, 8, 5)])
    top, bottom, left, right = pool.pads((8, 5), (h, w))
    assert (8 + top + bottom - 3) // 2 + 1 == h
    assert (5 + left + right - 1) // 1 + 1 == w


def test_pool_out_matches_torch():
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    for size, kernel, stride, pad, ceil_mode in CASES:
        out = ops.pool_out(size, kernel, stride, pad, ceil_mode)
        if out < 1:
            continue
        x = torch.zeros(1, 1, size, size)
        y = f.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil_mode)
        assert y.shape[-1] == out, (size, kernel, stride, pad, ceil_mode)


# -- determinism ----------------------------------------------------------------------


def test_build_is_deterministic(googlenet):
    again = build_graph(GOOGLENET)
    assert again == googlenet
    assert list(again.nodes) == list(googlenet.nodes)
    assert repr(again) == repr(googlenet)


def test_nodes_are_topological_and_unique(googlenet):
    seen: set[str] = set()
    for name, node in googlenet.nodes.items():
        assert all(i in seen for i in node.inputs), name
        seen.add(name)
    rows = [r.name for r in (*googlenet.rows, *googlenet.aux_heads)]
    assert len(rows) == len(set(rows))
