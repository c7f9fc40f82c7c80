"""SIGTERM and SIGINT during training: noted, not obeyed at once.

A cluster scheduler sends SIGTERM before it preempts a job, and a user presses
Ctrl-C; either way the driver finishes the current step, saves its place and exits
with 128 + the signal number. A second signal of the same kind while saving is
ignored: the checkpoint write is atomic, but a half-done save would be lost work.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

CAUGHT = (signal.SIGTERM, signal.SIGINT)


class Deferred:
    """While active, SIGTERM/SIGINT set `signum` instead of ending the process
    (main thread only: elsewhere, e.g. under a test runner's worker thread, nothing is
    installed and the signals keep their handlers)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = self.signum or signum

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():
            for sig in CAUGHT:
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
