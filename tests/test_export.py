"""incept export: ONNX (onnx.checker + onnxruntime vs torch) for every shipped spec,
SavedModel round trips, trained checkpoints' weights, and bad input in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # before TensorFlow, as incept convert does
from genload import assert_sensitive, randomize, reduced_spec
from runchecks import incept

from incept.compiler.pipeline import compile_spec
from incept.runtime.export import onnx as onnx_export
from incept.runtime.export.source import Target, open_target
from incept.runtime.torch import checkpoint as torch_ckpt

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LITE = ROOT / "specs" / "googlenet-fmnist-lite.yaml"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_onnx_export_matches_torch(spec, tmp_path_factory):
    target = open_target(str(reduced_spec(spec.name, tmp_path_factory.mktemp("spec"))), None)
    tmp_path = tmp_path_factory.mktemp("onnx")
    model = target.torch_model
    assert not model.training and model.aux_logits is False
    shape = tuple(target.compiled.graph.input.shape)
    randomize(model)  # outputs that depend on the input: the spec's init may not give them
    with torch.no_grad():
        assert_sensitive(model(torch.randn(2, *shape)), onnx_export.RTOL)
    out = tmp_path / "m.onnx"
    error = onnx_export.export_onnx(model, shape, out)
    assert error <= onnx_export.RTOL
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temp file left
    import onnx

    proto = onnx.load(str(out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [18]
    (inp,) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", *shape]
    assert onnx_export.check(out, model, shape, batch=3) <= onnx_export.RTOL  # any batch


@pytest.mark.parametrize("verbose", [False, True])
def test_the_exporters_torchvision_notices_show_only_with_verbose(
    verbose, monkeypatch, caplog, tmp_path
):
    """Without torchvision, torch.onnx warns at every export that it skips
    torchvision's detection operators; incept shows that only with `--verbose`."""
    import logging

    def fake_export(*args, **kwargs):
        logging.getLogger(onnx_export.REGISTRY_LOGGER).warning("torchvision is not installed")
        logging.getLogger("torch.onnx").warning("a warning that matters")

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    if verbose:
        monkeypatch.setenv("INCEPT_VERBOSE", "1")
    else:
        monkeypatch.delenv("INCEPT_VERBOSE", raising=False)
    with caplog.at_level(logging.WARNING):
        onnx_export._export(torch.nn.Identity(), torch.zeros(1, 1), tmp_path / "m.onnx")
    shown = [r.getMessage() for r in caplog.records]
    assert shown == (["torchvision is not installed"] if verbose else []) + [
        "a warning that matters"
    ]
    assert logging.getLogger(onnx_export.REGISTRY_LOGGER).level == logging.NOTSET  # restored


def trained_checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A torch checkpoint of the lite spec with weights no fresh build has (aux included)."""
    compiled = compile_spec(LITE)
    torch.manual_seed(123)
    model = Target(compiled).torch_model
    full = type(model)(aux_logits=True)
    with torch.no_grad():
        for p in full.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {
        "spec": {"path": str(LITE), "arch_sha256": compiled.arch_sha256},
        "recipe": {"aux": True},
        "model": full.state_dict(),
    }
    path = tmp_path / "best.pt"
    torch_ckpt.save(path, state)
    return path, full.eval()


def lite_images_and_logits(model: torch.nn.Module) -> tuple[torch.Tensor, object]:
    """Four fixed 1x28x28 images and `model`'s logits for them (numpy)."""
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return x, model(x).numpy()


def onnx_logits_error(path: Path, x: torch.Tensor, want: object) -> float:
    """onnxruntime's logits for `x` against `want`, relative."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": x.numpy()})
    return onnx_export.relative_error(got, want)


def test_checkpoint_exports_its_trained_weights_to_onnx_and_saved_model(tmp_path):
    import numpy as np

    ckpt, trained = trained_checkpoint(tmp_path)
    onnx_out, sm_out = tmp_path / "lite.onnx", tmp_path / "lite_sm"
    code, output = incept(
        "export", str(ckpt), "--onnx", str(onnx_out), "--saved-model", str(sm_out)
    )
    assert code == 0, output
    assert f"wrote {onnx_out} (opset 18, input images N x 1 x 28 x 28" in output
    x, want = lite_images_and_logits(trained)
    assert onnx_logits_error(onnx_out, x, want) <= 1e-4
    import tensorflow as tf

    loaded = tf.saved_model.load(str(sm_out))  # kept: its functions use its variables
    served = loaded.serve(tf.constant(x.permute(0, 2, 3, 1).numpy()))
    assert onnx_export.relative_error(np.asarray(served), want) <= 1e-4  # weights carried across
    fresh = open_target(str(LITE), None).torch_model
    with torch.no_grad():
        assert onnx_export.relative_error(fresh(x).numpy(), want) > 1e-2  # not a fresh model


def test_optimized_onnx_export_keeps_a_trained_checkpoints_numbers(tmp_path):
    """--opt all: the checkpoint's norms fold and its sibling convolutions fuse on the
    way into the ONNX graph (one Conv and a Split where each block had three), numbers
    kept. (torch's exporter folds eval-mode norms itself, so fusion is what shows.)"""
    import onnx

    ckpt, trained = trained_checkpoint(tmp_path)
    plain, fast = tmp_path / "plain.onnx", tmp_path / "fast.onnx"
    assert incept("export", str(ckpt), "--onnx", str(plain))[0] == 0
    code, output = incept("export", str(ckpt), "--onnx", str(fast), "--opt", "all")
    assert code == 0, output
    assert (
        "--opt fuse_siblings,fold_bn; onnxruntime vs torch" in output
    )  # the IR passes (separable_maxpool is a torch backend option)

    def ops(path: Path) -> list[str]:
        return [n.op_type for n in onnx.load(str(path)).graph.node]

    assert ops(fast).count("Conv") == ops(plain).count("Conv") - 2 * 9  # 3 -> 1 per block
    assert ops(fast).count("Split") == ops(plain).count("Split") + 9
    x, want = lite_images_and_logits(trained)
    assert onnx_logits_error(fast, x, want) <= 1e-4


def test_saved_model_from_a_spec_round_trips(tmp_path):
    out = tmp_path / "served"
    code, output = incept(
        "export", str(ROOT / "specs" / "googlenet.yaml"), "--saved-model", str(out)
    )
    assert code == 0, output
    assert "wrote" in output and "endpoint serve, input N x 224 x 224 x 3" in output
    assert (out / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["served"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            [str(LITE)],
            "incept export: error[flag]: give --onnx FILE.onnx, --saved-model DIR or both",
        ),
        (
            [str(LITE), "--onnx", "{tmp}/m.pb"],
            "--onnx: error[flag]: the file must end in .onnx, got {tmp}/m.pb",
        ),
        (
            ["{tmp}/run", "--onnx", "{tmp}/m.onnx"],
            "{tmp}/run: error[checkpoint]: no such spec, run folder or checkpoint",
        ),
        (
            ["{tmp}/nope.yaml", "--onnx", "{tmp}/m.onnx"],
            "{tmp}/nope.yaml:1:1: error[io]: cannot read spec",
        ),
        (
            ["{tmp}/junk.pt", "--onnx", "{tmp}/m.onnx"],
            "{tmp}/junk.pt: error[checkpoint]: not a readable torch checkpoint",
        ),
        (
            [str(LITE), "--saved-model", "{tmp}"],
            "--saved-model: error[flag]: {tmp} exists; choose another folder",
        ),
        (
            [str(LITE), "--onnx", "{tmp}/junk.pt/m.onnx"],  # a file where a folder should be
            "--onnx: error[flag]: cannot write {tmp}/junk.pt/m.onnx: ",
        ),
        (
            [str(LITE), "--onnx", "{tmp}/m.onnx", "--opt", "fold_bn,separable_maxpool"],
            "--opt: error[flag]: unknown optimization 'separable_maxpool' (choose from all, "
            "fuse_siblings, fold_bn)",
        ),
        (
            [str(LITE), "--saved-model", "{tmp}/sm", "--opt", "all"],
            "--opt: error[flag]: applies to the ONNX export: give --onnx FILE.onnx",
        ),
        (
            [str(LITE), "--onnx", "{tmp}/m.onnx", "--opt", "fuse"],
            "--opt: error[flag]: unknown optimization 'fuse'",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, line):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    code, output = incept("export", *(a.format(tmp=tmp_path) for a in args))
    assert code == 2, output
    assert output.count("\n") == 1 and output.startswith(line.format(tmp=tmp_path)), output
    assert [p.name for p in tmp_path.iterdir()] == ["junk.pt"]


def keras_checkpoint(tmp_path: Path) -> tuple[Path, object]:
    """A .keras checkpoint of the lite spec, aux heads included, with weights no fresh
    build has; and the model it was saved from."""
    import numpy as np

    from incept.runtime.keras import checkpoint as keras_ckpt
    from incept.runtime.keras.model import build_model

    compiled = compile_spec(LITE)
    model = build_model(compiled, tmp_path / "src", aux=True)
    rng = np.random.default_rng(6)
    model.set_weights([w + 0.01 * rng.standard_normal(w.shape) for w in model.get_weights()])
    ckpt = tmp_path / "best.keras"
    state = {"spec": {"path": str(LITE), "arch_sha256": compiled.arch_sha256}}
    keras_ckpt.save(ckpt, model, {**state, "recipe": {"aux": True}})
    return ckpt, model


def test_keras_checkpoint_exports_its_weights_to_onnx(tmp_path):
    """A .keras checkpoint (aux heads included) reaches the ONNX file through the IR's
    weight transfer: onnxruntime on NCHW equals the Keras model on NHWC."""
    import numpy as np

    ckpt, model = keras_checkpoint(tmp_path)
    rng = np.random.default_rng(7)
    out = tmp_path / "k.onnx"
    code, output = incept("export", str(ckpt), "--onnx", str(out))
    assert code == 0, output
    import onnxruntime as ort

    x = rng.standard_normal((3, 28, 28, 1)).astype("float32")
    want = np.asarray(model(x, training=False)[0])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": x.transpose(0, 3, 1, 2)})
    assert onnx_export.relative_error(got, want) <= 1e-4


def test_keras_checkpoint_exports_to_a_saved_model_that_takes_one_batch(tmp_path):
    """A checkpoint with aux heads: the logits-only model cut from it took its input as a
    one-item list, so the endpoint wanted a list and the check after the export was an
    internal error. It takes one NHWC batch and serves the checkpoint's weights."""
    import numpy as np
    import tensorflow as tf

    ckpt, model = keras_checkpoint(tmp_path)
    rng = np.random.default_rng(8)
    out = tmp_path / "served"
    code, output = incept("export", str(ckpt), "--saved-model", str(out))
    assert code == 0, output
    assert "endpoint serve, input N x 28 x 28 x 1" in output
    x = rng.standard_normal((3, 28, 28, 1)).astype("float32")
    loaded = tf.saved_model.load(str(out))  # kept: its functions use its variables
    served = loaded.serve(tf.constant(x))
    want = np.asarray(model(x, training=False)[0])
    assert onnx_export.relative_error(np.asarray(served), want) <= 1e-5
