"""The generated PyTorch modules: parameters, shapes, torchvision compatibility."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from genload import ROOT, shipped, torch_module  # noqa: E402

from incept.backends.torch import flattened_outputs, module_paths, weight_modules  # noqa: E402
from incept.compiler.pipeline import build_graph  # noqa: E402

PARAMS = {
    # spec: (without aux heads, with aux heads): Caffe's and torchvision's published totals
    "googlenet.yaml": (6_998_552, 13_378_280),
    "googlenet-torchvision.yaml": (6_624_904, 13_004_888),
}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module", params=sorted(PARAMS))
def compiled(request, tmp_path_factory):
    graph = shipped(request.param)
    module = torch_module(
        graph, tmp_path_factory.mktemp("gen"), f"gen_{request.param[:-5].replace('-', '_')}"
    )
    return request.param, graph, module


@pytest.mark.parametrize("aux", [False, True])
def test_parameter_counts(compiled, aux):
    name, graph, module = compiled
    expected = PARAMS[name][aux]
    assert graph.params(aux=aux) == expected
    assert n_params(module.build(aux_logits=aux)) == expected


def test_build_defaults_follow_spec(compiled):
    _, graph, module = compiled
    model = module.build()
    assert model.fc.out_features == graph.num_classes == 1000
    assert model.aux_logits is graph.aux_logits
    assert module.build(num_classes=10).fc.out_features == 10


@pytest.mark.parametrize("batch", [1, 3])
def test_eval_output_shape(compiled, batch):
    _, graph, module = compiled
    model = module.build(num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(batch, *graph.input.shape))
    assert out.shape == (batch, 7)


def test_training_outputs_named_tuple(compiled):
    _, graph, module = compiled
    model = module.build(num_classes=5, aux_logits=True).train()
    out = model(torch.randn(2, *graph.input.shape))
    assert out._fields == ("logits", "aux1", "aux2")
    assert [tuple(t.shape) for t in out] == [(2, 5)] * 3
    plain = module.build(num_classes=5, aux_logits=False).train()
    assert plain(torch.randn(2, *graph.input.shape)).shape == (2, 5)


def _resized(spec: str, size: int, tmp_path):
    """The shipped spec with another input size, compiled afresh (its bases are copied
    and resized alike: googlenet-torchvision.yaml extends googlenet.yaml)."""
    for source in (ROOT / "specs").glob("*.yaml"):
        # declared per-row outputs are for 224; drop them for the resized network
        lines = [
            line.replace("size: 224", f"size: {size}") for line in source.read_text().splitlines()
        ]
        (tmp_path / source.name).write_text("\n".join(map(_drop_output, lines)) + "\n")
    graph = build_graph(tmp_path / spec)
    assert graph.input.shape == (3, size, size)
    return graph


def _drop_output(line: str) -> str:
    import re

    return re.sub(r", output: \d+x\d+x\d+", "", line)


@pytest.mark.parametrize(
    ("spec", "size"),
    # 232 keeps Caffe's fixed 7x7/1 average pool valid (7x7 before it); the torchvision
    # profile pools adaptively and takes smaller images too.
    [("googlenet.yaml", 232), ("googlenet-torchvision.yaml", 160)],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_other_input_size_every_node(spec, size, batch, tmp_path):
    graph = _resized(spec, size, tmp_path)
    module = torch_module(graph, tmp_path, f"gen_resized_{batch}")
    model = module.build().train()
    shapes = _hooked_shapes(
        model, module_paths(graph), torch.randn(max(batch, 2), *graph.input.shape)
    )
    flat = flattened_outputs(graph)  # dropouts forward_head applies after the flatten
    assert flat == {"dropout"}
    for node_name, path in module_paths(graph).items():
        shape = graph.nodes[node_name].shape
        shape = (math.prod(shape),) if node_name in flat else shape
        assert shapes[path] == (max(batch, 2), *shape), node_name
    with torch.no_grad():
        assert model.eval()(torch.randn(batch, *graph.input.shape)).shape == (batch, 1000)


def _hooked_shapes(model, paths: dict[str, str], x) -> dict[str, tuple[int, ...]]:
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [
        modules[p].register_forward_hook(
            lambda _m, _i, out, p=p: shapes.__setitem__(p, tuple(out.shape))
        )
        for p in set(paths.values())
    ]
    model(x)
    for h in handles:
        h.remove()
    return shapes


def test_per_node_parameters(compiled):
    _, graph, module = compiled
    modules = dict(module.build(aux_logits=True).named_modules())
    for node_name, path in module_paths(graph).items():
        node = graph.nodes[node_name]
        if node.op == "concat":
            row = next(r for r in graph.rows if r.name == node.row)
            expected = sum(graph.nodes[n].params for n in row.nodes)
        else:
            expected = node.params
        assert n_params(modules[path]) == expected, node_name


@pytest.mark.parametrize(
    ("spec", "factory", "size"),
    [
        ("googlenet-torchvision.yaml", "googlenet", 224),
        # flat layout and nested splits reproduce Inception3 key for key
        ("inception-v3.yaml", "inception_v3", 299),
    ],
)
def test_torchvision_state_dict_round_trip(spec, factory, size, tmp_path):
    torchvision = pytest.importorskip("torchvision")
    graph = shipped(spec)
    module = torch_module(graph, tmp_path, f"gen_roundtrip_{factory}")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, factory)(
        weights=None, aux_logits=True, init_weights=True
    )
    model = module.build(aux_logits=True)
    ours, theirs = model.state_dict(), reference.state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()
    }
    model.load_state_dict(theirs, strict=True)
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        diff = (model.eval()(x) - reference.eval()(x)).abs().max().item()
    assert diff <= 1e-5


def test_caffe_initialization():
    """xavier (uniform +-sqrt(3/fan_in)) weights and 0.2 biases, per the spec's init."""
    import math
    import tempfile
    from pathlib import Path

    graph = shipped("googlenet.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        model = torch_module(graph, Path(tmp), "gen_init").build()
    conv = model.inception_3a.branch2[1].conv
    bound = math.sqrt(3.0 / (96 * 3 * 3))
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert torch.all(conv.bias == 0.2)


@pytest.mark.parametrize("param", ["self", "in_channels", "nn", "F", "torch", "x", "ConvReLU"])
def test_template_parameter_names_never_shadow_generated_names(param, tmp_path):
    """A parameter named like something the generated module uses is renamed, not clashed."""
    spec = tmp_path / "clash.yaml"
    spec.write_text(
        f"""\
name: clash
input: {{channels: 3, size: 8}}
num_classes: 2
blocks:
  mix:
    params: [{param}]
    branches:
      a: [{{op: conv, out: ${param}, kernel: 1}}]
      b: [{{op: maxpool, kernel: 3, stride: 1, padding: 1}}, {{op: conv, out: 4, kernel: 1}}]
layers:
  - {{name: m, op: mix, {param}: 5}}
  - {{op: adaptive_avgpool}}
  - {{op: flatten}}
  - {{op: linear, out: $num_classes}}
"""
    )
    graph = build_graph(spec)
    model = torch_module(graph, tmp_path, f"gen_clash_{param}").build()
    assert n_params(model) == graph.params()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 2)


@pytest.mark.parametrize("name", ["googlenet.yaml", "googlenet-torchvision.yaml"])
def test_weight_modules_name_every_tensor_of_the_state_dict(name, tmp_path):
    """What weight transfer copies (backends/transfer.py asks the backend, not `.conv`):
    each conv and linear node's submodules by kind hold the whole state_dict between them."""
    graph = shipped(name)
    modules = weight_modules(graph)
    state = torch_module(graph, tmp_path, "gen_weights").build(aux_logits=True).state_dict()
    owned = {key for key in state for m in modules.values() if key.rpartition(".")[0] in m.values()}
    assert owned == set(state)
    norm = name == "googlenet-torchvision.yaml"
    first = "inception3a" if norm else "inception_3a"
    want = {"conv": f"{first}.branch2.0.conv", **({"bn": f"{first}.branch2.0.bn"} if norm else {})}
    assert modules[f"{first}_3x3_reduce"] == want
    assert modules["fc"] == {"linear": "fc"}
    assert len(modules) == sum(n.op in ("conv", "linear") for n in graph.nodes.values())
