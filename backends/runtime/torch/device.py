"""Where and how a torch run executes: device, precision, compile, distributed ranks.

Defaults follow measurements (bench/train_defaults.py, docs/training.md): channels_last
is on everywhere (1.40x training img/s on the 2-core CPU, and the GPU's tensor-core
layout); bf16 autocast and torch.compile are on for CUDA only (on the CPU compiling cost
2-8 minutes for at most 1.24x over channels_last alone).
`torchrun` sets WORLD_SIZE/RANK/LOCAL_RANK; then each process drives one device and
DistributedDataParallel averages the gradients (gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import Code, InputError
from ..job import Options


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype, None for fp32
    compile: bool
    channels_last: bool
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(Code.FLAG, "--device", f"{name} asked for, but torch sees no CUDA device")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(Code.FLAG, "--device", f"unknown device {name!r}") from None


_PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def setup(options: Options) -> Runtime:
    """Resolve the options for this process, joining the process group under torchrun."""
    if options.replicas != 1:  # torch's data parallelism is one process per device
        raise InputError(
            Code.FLAG, "--replicas", "is for keras; torch trains data-parallel under torchrun: "
            f"torchrun --nproc-per-node {options.replicas} --no-python incept train ...",
        )  # fmt: skip
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(options.device, local_rank)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    precision = options.precision if options.precision != "auto" else ("bf16" if cuda else "fp32")
    if precision not in _PRECISIONS:
        raise InputError(Code.FLAG, "--precision", f"unknown precision {precision!r}")
    return Runtime(
        device=device,
        dtype=_PRECISIONS[precision],
        compile=cuda if options.compile is None else options.compile,
        channels_last=True if options.channels_last is None else options.channels_last,
        rank=rank,
        world=world,
    )
