"""The runtime's shape: no import loops (static imports, imports inside functions and
the adapters loaded through import_module alike), and one definition of the test
metrics that both frameworks' paths agree on."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from incept.runtime.metrics import score, softmax, summarize

RUNTIME = Path(__file__).resolve().parent.parent / "backends" / "runtime"


def _module(path: Path) -> str:
    parts = path.relative_to(RUNTIME).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("incept", "runtime", *parts))


def _imports(path: Path, module: str) -> set[str]:
    """Runtime modules `module` imports at run time (TYPE_CHECKING blocks excluded);
    `import_module(f"incept.runtime.{name}.adapter")` counts as importing every adapter."""
    tree = ast.parse(path.read_text())
    skip = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "import_module":
            text = ast.unparse(node.args[0]) if node.args else ""
            if "incept.runtime." in text and "adapter" in text:
                found.update({"incept.runtime.torch.adapter", "incept.runtime.keras.adapter"})
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in RUNTIME.rglob("*.py")}
    return {m: {i for i in _imports(p, m) if i in files and i != m} for m, p in files.items()}


def test_the_runtime_has_no_import_loop() -> None:
    graph = _graph()
    assert "incept.runtime.torch.adapter" in graph["incept.runtime.frameworks"]
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import loop: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_loop_check_sees_a_loop(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text(
        "from .b import x\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n"
    )
    found = _imports(a, "incept.runtime.a")
    assert "incept.runtime.b" in found and "incept.runtime.c" not in found


def test_test_metrics_are_eval_metrics_on_the_same_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 7)) * 4
    logits[3] = [1000.0, -1000.0, 0, 0, 0, 0, 0]  # an underflowing probability
    labels = rng.integers(0, 7, size=50)
    labels[3] = 1
    summary = summarize(softmax(logits), labels, [str(i) for i in range(7)])
    assert score(logits, labels) == {
        "loss": summary.loss,
        "acc": summary.top1,
        "top5": summary.top5,
    }
    assert np.isfinite(summary.loss)


def test_both_frameworks_turn_logits_into_the_same_probabilities() -> None:
    """torch's and Keras' evaluation paths (predict_probs) on the same logits: the same
    float64 probabilities, hence the same loss and top-k."""
    import torch

    from incept.runtime.crops import Crop
    from incept.runtime.keras.evaluate import predict_probs as keras_probs
    from incept.runtime.torch.evaluate import predict_probs as torch_probs

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 3
    labels = np.arange(6) % 5
    images = logits.reshape(6, 1, 1, 5)  # the "image" is its own logits
    plan = [Crop(short_side=1, box=(0, 0, 1, 5), mirror=False, resize_to_input=False)]

    class Identity(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(len(x), -1)

    nchw = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).reshape(6, 1, 1, 5)
    pt, yt = torch_probs(Identity(), [(nchw, torch.from_numpy(labels))], plan, (1, 5))
    pk, yk = keras_probs(
        lambda x: np.asarray(x).reshape(len(x), -1),
        [(images.reshape(6, 1, 5, 1), labels)],
        plan,
        (1, 5),
    )
    assert np.array_equal(pt, pk) and np.array_equal(yt, yk)
    assert np.array_equal(pt, softmax(logits.astype(np.float64)))
