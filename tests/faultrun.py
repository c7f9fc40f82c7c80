"""`incept` with one fault injected, for tests/test_faults.py (a real process each).

    INCEPT_TEST_FAULT=KIND@N python tests/faultrun.py train ...

KIND: nan (poison the weights after training step N), sigterm (signal the process
after step N), kill-in-write (SIGKILL after the N-th checkpoint's data is on disk,
before it is put in place), enospc (the N-th checkpoint write fails: disk full).
INCEPT_TEST_BACKEND names the framework whose session is patched (torch | keras).
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from typing import Any

from incept.compiler import files
from incept.compiler.cli import main
from incept.runtime.frameworks import load_frameworks

KIND, _, AT = os.environ["INCEPT_TEST_FAULT"].partition("@")
N = int(AT)


def _session_class() -> Any:
    keras = os.environ.get("INCEPT_TEST_BACKEND", "torch") == "keras"
    load_frameworks(keras)  # as `incept train` loads them, before the session's module
    if not keras:
        from incept.runtime.torch.session import TorchSession

        return TorchSession
    from incept.runtime.keras.session import KerasSession

    return KerasSession


def _poison(session: Any) -> None:
    if hasattr(session, "raw"):  # torch
        import torch

        with torch.no_grad():
            next(session.raw.parameters()).fill_(float("nan"))
        return
    import numpy as np

    weight = session.model.trainable_variables[0]
    weight.assign(np.full(weight.shape, np.nan, dtype="float32"))


def _patch_steps() -> None:
    cls = _session_class()
    original, done = cls.step, [0]

    def step(self: Any, batch: Any) -> None:
        original(self, batch)
        done[0] += 1
        if done[0] == N:
            if KIND == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                _poison(self)

    cls.step = step


def _patch_writes() -> None:
    original, seen = files._sync, [0]

    def sync(path: Path) -> None:
        if path.name.startswith(".last."):  # a checkpoint's temporary file
            seen[0] += 1
            if seen[0] == N:
                if KIND == "kill-in-write":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path)

    files._sync = sync


if __name__ == "__main__":
    (_patch_steps if KIND in ("nan", "sigterm") else _patch_writes)()
    main()
