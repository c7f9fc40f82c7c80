"""Keep what hypothesis finds: a failing random spec is written out for a person to keep.

Tests never write into the source tree: the failing spec goes to $INCEPT_FAILURES, else
a folder under the system's temporary directory, and the failure says where. Hypothesis
replays the shrunk, minimal example last, so the file left behind is the minimal one.
Move it into tests/regressions/ under a name that says what it caught and commit it;
`test_agreement.py` then checks every spec in that folder on every run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from specgen import write_spec

#: Committed regressions, read by the tests (never written by them).
REGRESSIONS = Path(__file__).resolve().parent / "regressions"


def failures_dir() -> Path:
    return Path(
        os.environ.get("INCEPT_FAILURES") or Path(tempfile.gettempdir()) / "incept-failures"
    )


@contextmanager
def saving_failures(spec: dict[str, Any], test: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        folder = failures_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = write_spec(spec, folder / f"failing-{test}.yaml")
        exc.add_note(f"the failing spec is saved as {path} (move it to tests/regressions/)")
        raise
