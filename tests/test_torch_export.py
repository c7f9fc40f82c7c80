"""Every shipped spec's generated torch module compiles: TorchScript, torch.export and
torch.compile(fullgraph=True). Type errors (an Optional passed as a Tensor) and graph
breaks fail here, not in a user's deployment."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from genload import SPECS, assert_sensitive, randomize, reduced, torch_module  # noqa: E402

SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(scope="module", params=SHIPPED)
def built(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    graph = reduced(request.param, folder)  # capturing the graph does not need 299x299
    name = f"gen_export_{request.param[:-5].replace('-', '_')}"
    module = torch_module(graph, folder, name)
    torch.manual_seed(0)
    model = module.build(num_classes=5)
    randomize(model)  # the spec's own init leaves googlenet-torchvision's outputs constant
    x = torch.randn(2, *graph.input.shape)
    with torch.no_grad():
        assert_sensitive(model.eval()(x), TOL["rtol"])
    return graph, module, model, x


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_matches_eager(built):
    graph, module, model, x = built
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted.eval()(x), model.eval()(x), **TOL)
        if graph.aux_heads:  # training mode returns the named tuple, every field a Tensor
            model.train(), scripted.train()
            torch.manual_seed(1)
            want = model(x)
            torch.manual_seed(1)
            got = scripted(x)
            assert len(got) == len(want) == 1 + len(graph.aux_heads)
            assert all(g.shape == (2, 5) for g in got)
    no_aux = torch.jit.script(module.build(num_classes=5, aux_logits=False).train())
    assert no_aux(x).shape == (2, 5)  # training without aux heads: the logits alone


def test_export_matches_eager(built):
    _, _, model, x = built
    model.eval()
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), **TOL)


def test_compile_fullgraph(built):
    """fullgraph=True fails on any graph break. The "eager" backend runs what dynamo
    captured without generating kernels, so the test stays cheap on CI's CPUs."""
    _, _, model, x = built
    model.eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), **TOL)
