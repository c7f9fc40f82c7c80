"""Run under `torchrun --nproc_per_node=2`: train the tiny spec with DDP on gloo and
save this rank's parameters, so a test can compare the ranks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from incept.runtime import cli
from incept.runtime.commands import make_job
from incept.runtime.torch.train import run


def main(argv: list[str]) -> None:
    params = dict(cli.train.make_context("train", argv).params)
    spec = params.pop("spec")
    recipe_flags = {k: params.pop(k) for k in cli.RECIPE_FLAGS}
    trained = run(make_job(spec, params, recipe_flags))
    weights = {k: v.detach().clone() for k, v in trained.model.named_parameters()}
    torch.save(weights, Path(params["out"]) / f"rank{os.environ['RANK']}.params.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
