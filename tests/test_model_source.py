"""Generated source imported from files (backends/runtime/model_source.py): a file a
loaded module came from is never replaced, so its lines stay readable."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from incept.compiler.files import create_once
from incept.runtime.model_source import import_source

ROOT = Path(__file__).resolve().parent.parent


def test_create_once_never_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "model.py"
    create_once(path, "first\n")
    create_once(path, "second\n")
    assert path.read_text() == "first\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.py"]


def test_other_source_goes_beside_a_file_a_module_came_from(tmp_path):
    first = "def f():\n    return 1\n"
    second = "def f():\n    return 2\n\n\ndef g():\n    return 3\n"
    one = import_source(first, tmp_path / "model.py")
    two = import_source(second, tmp_path / "model.py")
    assert (one.f(), two.f(), two.g()) == (1, 2, 3)
    assert (tmp_path / "model.py").read_text() == first  # the run folder's code stays
    assert Path(two.__file__).name.startswith("model-") and Path(two.__file__).read_text() == second
    assert inspect.getsource(one.f) == first and inspect.getsource(two.g).startswith("def g")
    assert import_source(second, tmp_path / "model.py") is two  # cached by the source's hash


def test_create_model_scripts_after_the_runtime_built_other_specs_in_the_same_folder(tmp_path):
    """The runtime's shared temporary folder once took every spec's model.py in turn:
    create_model then returned the module of a file that held another spec, and
    torch.jit.script failed reading its lines (IndexError)."""
    torch = pytest.importorskip("torch")
    import incept
    from incept.compiler.pipeline import compile_spec
    from incept.runtime.torch.model import build_model

    lite = ROOT / "specs" / "googlenet-fmnist-lite.yaml"
    for spec in (lite, ROOT / "tests" / "data" / "train" / "tiny.yaml"):
        build_model(compile_spec(spec), tmp_path, aux=False)
    model = incept.create_model(lite, aux_logits=False).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(model)(x), model(x))
