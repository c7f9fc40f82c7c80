"""`incept bench --vs timm` and `--vs keras-applications`: the generated modules of the family
after Inception-v3 beside timm's and keras.applications' models of the same networks.

Before anything is timed the weights are shared (by name, or by position for timm's
inception_v4) and the outputs compared; these tests check that sharing and that a
difference stops the run. Small inputs (75x75, Xception 71x71) keep them fast.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from conftest import SPECS
from genload import resized_spec

from incept.compiler.cli import main
from incept.compiler.pipeline import build_graph

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")


def small(spec: str, size: int, tmp_path, more: str = ""):
    """The shipped spec `spec` at size x size (genload.resized_spec)."""
    return build_graph(resized_spec(spec, size, tmp_path, more))


@pytest.mark.parametrize(
    ("spec", "size", "how", "params"),
    [
        ("inception-v4", 75, "by position", 42_679_816),
        ("inception-resnet-v2", 75, "by name", 55_843_464),
        ("xception", 71, "by name", 22_855_952),
    ],
)
def test_timm_pair_shares_the_weights_and_agrees(spec, size, how, params, tmp_path):
    from incept.bench import bench_torch

    graph = small(spec, size, tmp_path)
    generated, reference, check = bench_torch.pair(graph, aux=False, seed=1, vs="timm")
    assert check["reference"] == f"timm {graph.name if spec != 'xception' else 'legacy_xception'}"
    assert check["params_generated"] == check["params_reference"] == params
    assert check["shared_weights"] is True and check["rel_diff"] <= 1e-5
    assert f"same weights loaded into both ({how})" in check["lines"][-1]
    with torch.no_grad():
        next(generated.parameters()).mul_(1.5)  # the stem's first convolution off
    with pytest.raises(RuntimeError, match="generated and timm .* logits differ"):
        bench_torch._agreement(graph, generated, reference, seed=1, label=check["reference"])


def test_a_spec_timm_has_no_model_of_is_one_line():
    result = CliRunner().invoke(main, ["bench", str(SPECS / "googlenet.yaml"), "--vs", "timm"])
    assert result.exit_code == 2
    assert result.output == (
        "incept bench: error[reference]: timm has no model of spec 'googlenet' (specs with "
        "one: inception_resnet_v2, inception_v4, xception)\n"
    )


#: Keras' InceptionV3 with torch's average pools (the padding counted): the same weights,
#: another function.
COUNTED_PADDING = """
blocks:
  inception_a:
    branches:
      branch_pool:
        - {op: avgpool, name: pool, kernel: 3, stride: 1, padding: 1}
        - {op: conv, name: branch_pool, out: $pool_features, kernel: 1}
"""


def test_keras_applications_share_weights_where_the_order_matches(tmp_path):
    from incept.bench import bench_common, bench_keras

    def compare(graph):
        model = bench_common.import_generated(graph, "keras").build(aux_logits=False)
        bench_keras.randomize(model, 0)
        return bench_keras.share_and_compare(model, bench_keras.application(graph), seed=0)

    assert compare(small("inception-v3-keras", 75, tmp_path))["rel_diff"] <= 1e-5
    unshared = compare(small("xception-keras", 75, tmp_path))  # Keras numbers its blocks apart
    assert unshared == {
        "shared_weights": False,
        "reason": "the weight lists differ in order or shape",
    }
    other = small("inception-v3-keras", 75, tmp_path, COUNTED_PADDING)
    with pytest.raises(RuntimeError, match="generated and keras.applications outputs differ"):
        compare(other)


def test_keras_applications_end_to_end(tmp_path):
    graph_path = tmp_path / "small.yaml"
    graph_path.write_text(
        "extends: inception-v3-keras\ninput: {size: 75}\npatch:\n  - {row: '*', unset: [output]}\n"
    )
    out = tmp_path / "r.json"
    args = ["bench", str(graph_path), "--vs", "keras-applications", "--batch", "2",
            "--modes", "infer", "--repeats", "1", "--warmup", "0", "--format", "json",
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["vs"] == "keras-applications"
    assert report["check"]["reference"] == "keras.applications.InceptionV3"
    assert report["check"]["params_generated"] == report["check"]["params_reference"] == 23_817_352
    assert report["check"]["shared_weights"] is True
    assert [r["mode"] for r in report["results"]] == ["infer"]
    assert all(r["ratio"] > 0 for r in report["results"])


def test_a_spec_keras_applications_has_no_model_of_is_one_line():
    args = ["bench", str(SPECS / "inception-v4.yaml"), "--vs", "keras-applications"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert (
        "error[reference]: keras.applications has no model of spec 'inception_v4'" in result.output
    )
    assert result.output.count("\n") == 1
