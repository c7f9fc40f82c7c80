"""`incept train`'s command line: the recipe a spec resolves to, and what is required."""

from __future__ import annotations

from runchecks import incept

LITE = "specs/googlenet-fmnist-lite.yaml"


def test_show_recipe_prints_the_spec_recipe_with_the_flags_on_top() -> None:
    code, output = incept("train", LITE, "--show-recipe", "--epochs", "12", "--no-flip")
    assert code == 0, output
    lines = dict(line.split(None, 1) for line in output.splitlines())
    assert lines["epochs"] == "12" and lines["augment.flip"] == "False"
    assert lines["optimizer"] == "sgd" and lines["batch_size"] == "128"  # the spec's values


def test_a_bad_flag_is_refused_by_show_recipe_too() -> None:
    code, output = incept("train", LITE, "--show-recipe", "--lr", "-1")
    assert code == 2 and output.startswith("--lr: error[flag]: ")


def test_data_is_required_to_train() -> None:
    code, output = incept("train", LITE)
    assert code == 2
    assert output.count("\n") == 1
    assert "train: error[usage]: Missing option '--data' (or --show-recipe)." in output


def test_image_folder_loaders_default_to_the_usable_cores_up_to_four(monkeypatch) -> None:
    from incept.runtime import job

    for cores, expected in ((1, 1), (2, 2), (4, 4), (16, 4)):
        monkeypatch.setattr(job.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert job.default_workers() == expected
        assert job.Options().workers == expected


def test_negative_workers_are_a_one_line_flag_error() -> None:
    code, output = incept("train", LITE, "--data", "fashion-mnist", "--workers", "-1")
    assert code == 2 and output.count("\n") == 1, output
    assert "--workers" in output and "-1 is not in the range x>=0" in output
