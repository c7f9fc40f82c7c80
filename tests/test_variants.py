"""Every shipped spec: pinned parameter counts in the IR and the generated torch module,
and the relationships between variants that explain those numbers."""

from __future__ import annotations

import pytest
from genload import SPECS, shipped, torch_module

from incept.compiler.ir import ops

#: spec -> (params without aux heads, with aux heads, input C x H x W)
PINNED = {
    "googlenet.yaml": (6_998_552, 13_378_280, (3, 224, 224)),
    "googlenet-torchvision.yaml": (6_624_904, 13_004_888, (3, 224, 224)),
    "googlenet-bn.yaml": (7_005_832, 13_385_816, (3, 224, 224)),
    "inception-v2.yaml": (7_292_264, 13_672_248, (3, 224, 224)),
    "googlenet-cifar.yaml": (5_871_914, 12_581_694, (3, 32, 32)),
    "googlenet-fmnist.yaml": (5_982_250, 10_332_734, (1, 28, 28)),
    "googlenet-fmnist-lite.yaml": (1_501_914, 2_082_286, (1, 28, 28)),
    "googlenet-w050.yaml": (2_010_560, 6_193_168, (3, 224, 224)),
    # torchvision's inception_v3 totals (REFERENCE.md): aux head 3,326,696
    "inception-v3.yaml": (23_834_568, 27_161_264, (3, 299, 299)),
    # The family after Inception-v3 (no aux heads); references: tests/test_family.py
    "inception-v3-keras.yaml": (23_817_352, 23_817_352, (3, 299, 299)),
    "inception-v4.yaml": (42_679_816, 42_679_816, (3, 299, 299)),
    "inception-resnet-v1.yaml": (24_357_096, 24_357_096, (3, 299, 299)),
    "inception-resnet-v1-cifar.yaml": (5_527_322, 5_527_322, (3, 32, 32)),
    "inception-resnet-v1-fmnist.yaml": (961_442, 961_442, (1, 28, 28)),
    "inception-resnet-v2.yaml": (55_843_464, 55_843_464, (3, 299, 299)),
    "inception-resnet-v2-keras.yaml": (55_813_192, 55_813_192, (3, 299, 299)),
    "xception.yaml": (22_855_952, 22_855_952, (3, 299, 299)),
    "xception-keras.yaml": (22_855_952, 22_855_952, (3, 299, 299)),
}


def test_every_shipped_spec_is_pinned():
    assert sorted(PINNED) == sorted(p.name for p in SPECS.glob("*.yaml"))


@pytest.mark.parametrize("spec", sorted(PINNED))
def test_ir_counts(spec):
    graph = shipped(spec)
    without, with_aux, shape = PINNED[spec]
    assert (graph.params(aux=False), graph.params(aux=True)) == (without, with_aux)
    assert graph.input.shape == shape


@pytest.mark.parametrize("spec", sorted(PINNED))
def test_torch_counts_and_shapes(spec, tmp_path):
    torch = pytest.importorskip("torch")
    graph = shipped(spec)
    module = torch_module(graph, tmp_path, f"gen_variant_{spec[:-5].replace('-', '_')}")
    without, with_aux, shape = PINNED[spec]
    heads = bool(graph.aux_heads)  # build() refuses aux heads a spec does not define
    for aux, expected in ((False, without), (True, with_aux))[: 1 + heads]:
        model = module.build(aux_logits=aux)
        assert sum(p.numel() for p in model.parameters()) == expected
    model = module.build(aux_logits=heads).train()
    out = model(torch.randn(2, *shape))
    out = out if heads else [out]
    assert [tuple(t.shape) for t in out] == [(2, graph.num_classes)] * (1 + len(graph.aux_heads))
    with torch.no_grad():
        assert model.eval()(torch.randn(1, *shape)).shape == (1, graph.num_classes)


def _convs(graph):
    return [n for n in graph.nodes.values() if isinstance(n.attrs, ops.Conv)]


def test_bn_variant_trades_each_bias_for_gamma_and_beta():
    base, bn = shipped("googlenet.yaml"), shipped("googlenet-bn.yaml")
    # per conv: -out (bias) + 2 * out (gamma, beta); LRN has no parameters
    extra = sum(n.attrs.out for n in _convs(base) if n.row not in {"aux1", "aux2"})
    assert bn.params() == base.params() + extra
    assert [n.shape for n in base.nodes.values() if n.op != "lrn"] == [
        n.shape for n in bn.nodes.values()
    ]


def test_v2_factorizes_every_5x5():
    v1, v2 = shipped("googlenet-bn.yaml"), shipped("inception-v2.yaml")
    assert not any(n.attrs.kernel == (5, 5) for n in _convs(v2))
    for row in v1.rows:
        if row.template == "inception":
            c_red, c5 = row.args["ch5x5red"], row.args["ch5x5"]
            # 5x5 (c_red -> c5) becomes 3x3 (c_red -> c5) + 3x3 (c5 -> c5), each with BN
            delta = 9 * c_red * c5 + 9 * c5 * c5 + 2 * c5 - (25 * c_red * c5)
            before = sum(v1.nodes[n].params for n in row.nodes)
            after = sum(
                v2.nodes[n].params for n in next(r for r in v2.rows if r.name == row.name).nodes
            )
            assert after - before == delta, row.name


def test_small_image_stems_keep_table1_sizes():
    fmnist, cifar = shipped("googlenet-fmnist.yaml"), shipped("googlenet-cifar.yaml")
    # Fashion-MNIST: from inception 3a on, every row has Table 1's output size
    paper = shipped("googlenet-bn.yaml")
    for row in fmnist.rows:
        if row.name.startswith(("inception", "pool3", "pool4", "pool5")):
            assert fmnist.nodes[row.output].shape == paper.nodes[row.output].shape, row.name
    assert cifar.nodes["inception_3a_output"].shape == (256, 32, 32)
    assert cifar.nodes["inception_5b_output"].shape == (1024, 8, 8)


def test_half_width_halves_every_conv():
    full, half = shipped("googlenet.yaml"), shipped("googlenet-w050.yaml")
    for node in _convs(full):
        assert half.nodes[node.name].attrs.out == max(1, int(node.attrs.out * 0.5 + 0.5))
