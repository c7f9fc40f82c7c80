"""`import incept`: the Python API (compiler/api/): version, list_models, compile and
create_model for both backends, compiled in memory."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT, SPECS
from test_inherit import BASE

import incept
from incept.compiler.errors import SpecError, UserError
from incept.compiler.pipeline import build_graph

LITE = "googlenet-fmnist-lite"
#: googlenet-fmnist-lite's parameters without aux heads, and its classifier's (512 -> 10).
LITE_PARAMS, LITE_FC = 1_501_914, 512 * 10 + 10


def fc_params(classes: int) -> int:
    return 512 * classes + classes


def test_import_is_cheap():
    """`import incept` loads neither a framework nor the compiler (nor pydantic)."""
    code = (
        "import sys, incept; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax', 'pydantic', "
        "'incept.compiler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


def test_version_is_the_projects():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert incept.__version__ == pyproject["project"]["version"]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        incept.nothing  # noqa: B018


def test_list_models(monkeypatch):
    monkeypatch.delenv("INCEPT_PATH", raising=False)
    assert incept.list_models() == sorted(p.stem for p in SPECS.glob("*.yaml"))
    assert incept.list_models("googlenet-fmnist*") == ["googlenet-fmnist", LITE]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_compile_is_the_committed_module(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = incept.compile(LITE, backend=backend)
    assert text == (ROOT / "generated" / f"googlenet_fmnist_lite_{backend}.py").read_text()
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compile_optimized():
    fused = incept.compile("googlenet-torchvision", optimize="all")
    names = ["separable_maxpool", "fold_bn", "fuse_siblings"]
    assert fused == incept.compile("googlenet-torchvision", optimize=names)
    assert fused != incept.compile("googlenet-torchvision")
    assert "SeparableMaxPool2d" in fused  # the torch backend's own option, named by `all`
    with pytest.raises(ValueError, match="separable_maxpool"):  # a torch option, not Keras'
        incept.compile("googlenet", backend="keras", optimize="separable_maxpool")
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        incept.compile("googlenet", backend="jax")


# -- create_model, torch --------------------------------------------------------------------


def test_create_model_torch(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from incept import models

    monkeypatch.chdir(tmp_path)
    model = incept.create_model(LITE)
    assert isinstance(model, torch.nn.Module)
    assert model.aux_logits  # the spec's choice
    assert sum(p.numel() for p in model.parameters()) == build_graph(LITE).params(aux=True)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    seven = incept.create_model(LITE, num_classes=7, aux_logits=False)
    assert sum(p.numel() for p in seven.parameters()) == LITE_PARAMS - LITE_FC + fc_params(7)
    with torch.no_grad():
        assert seven.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 7)
    # One module per spec, backend and class count; a new model each call.
    again = incept.create_model(LITE, num_classes=10)  # the spec's own number
    assert type(again) is type(model) and again is not model
    assert type(seven) is not type(model)
    assert len([k for k in models._MODULES if k[1] == "torch"]) >= 2
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torch_model_is_the_generated_module(monkeypatch):
    """The in-memory module is the committed generated file: same state_dict keys and
    shapes, and torch.jit.script reads its source."""
    torch = pytest.importorskip("torch")
    path = ROOT / "generated" / "googlenet_fmnist_lite_torch.py"
    spec = importlib.util.spec_from_file_location("lite_from_file", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "lite_from_file", module)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    ours = incept.create_model(LITE, aux_logits=False).eval()
    theirs = module.build(aux_logits=False).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        torch.testing.assert_close(torch.jit.script(ours)(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_create_model_from_a_mapping():
    torch = pytest.importorskip("torch")
    model = incept.create_model(
        {"extends": LITE, "name": "mine", "class_name": "Mine", "num_classes": 3}
    )
    assert type(model).__name__ == "Mine"
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 3)
    with pytest.raises(SpecError) as err:
        incept.create_model({"extends": LITE, "width_multiplier": float("nan")})
    assert str(err.value) == "<mapping>:1:1: error[non-finite]: numbers must be finite, got nan"
    with pytest.raises(SpecError) as err:
        incept.create_model({"extends": LITE, "input": {"channels": 0}})
    assert str(err.value).startswith("<mapping>:1:1: error[value]: channels: must be greater ")
    with pytest.raises(SpecError, match=r"error\[type\]: a spec holds plain data, got set"):
        incept.create_model({"extends": LITE, "description": {"a"}})


def test_create_model_refusals():
    with pytest.raises(UserError, match=r"^pretrained='torchvision': error\[pretrained\]: no "):
        incept.create_model("googlenet", pretrained="torchvision")  # Caffe's layout
    for bad in (0, 2.0, True, "10"):
        with pytest.raises(ValueError, match="num_classes must be a positive integer"):
            incept.create_model(LITE, num_classes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown backend 'tf'"):
        incept.create_model(LITE, backend="tf")
    with pytest.raises(SpecError, match=r"no model named 'googlenett' .*closest: googlenet,"):
        incept.create_model("googlenett")


def test_num_classes_needs_a_classifier_that_follows_it(tmp_path):
    """A spec whose classifier has a literal width cannot change its class count."""
    pytest.importorskip("torch")
    spec = tmp_path / "fixed.yaml"
    spec.write_text(BASE.replace("out: $num_classes", "out: 10"))
    assert incept.create_model(spec) is not None
    with pytest.raises(ValueError) as err:
        incept.create_model(spec, num_classes=4)
    assert str(err.value) == (
        f"{spec}: its last row gives (10,), not num_classes = 4: write the classifier's "
        "width as $num_classes to change it"
    )


# -- create_model, keras --------------------------------------------------------------------


def test_create_model_keras(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    import numpy as np

    monkeypatch.chdir(tmp_path)
    model = incept.create_model(LITE, backend="keras", num_classes=5, aux_logits=False)
    assert isinstance(model, keras.Model)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == LITE_PARAMS - LITE_FC + fc_params(5)  # as torch counts parameters
    assert model(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 5)
    with_aux = incept.create_model(LITE, backend="keras")
    assert [tuple(o.shape) for o in with_aux.outputs] == [(None, 10)] * 3
    assert list(tmp_path.iterdir()) == []
