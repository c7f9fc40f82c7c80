"""Run under `torchrun --nproc_per_node=2`: train the tiny spec with DDP on gloo and
save this rank's parameters (and its average's, with --ema), so a test can compare the
ranks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from incept.runtime import cli
from incept.runtime.driver import train
from incept.runtime.torch.session import TorchSession
from incept.runtime.train import make_job


def main(argv: list[str]) -> None:
    params = dict(cli.train.make_context("train", argv).params)
    spec = params.pop("spec")
    params["run_dir"] = params["run_dir"] or params.pop("run_dir_alias")
    sessions: list[TorchSession] = []
    original = TorchSession.__init__

    def keep(self: TorchSession, job: object) -> None:
        original(self, job)  # type: ignore[arg-type]
        sessions.append(self)

    TorchSession.__init__ = keep  # type: ignore[method-assign]
    train(make_job(spec, params))
    weights = {k: v.detach().clone() for k, v in sessions[0].raw.named_parameters()}
    if sessions[0].average is not None:
        averaged = sessions[0].average.model.named_parameters()  # buffers are per rank
        weights.update({f"average.{k}": v.detach().clone() for k, v in averaged})
    torch.save(weights, Path(params["run_dir"]) / f"rank{os.environ['RANK']}.params.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
