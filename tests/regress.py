"""Keep what hypothesis finds: a failing random spec is written under tests/regressions/.

Hypothesis replays the shrunk, minimal example last, so the file left behind is the
minimal one. Rename it to say what it caught and commit it; `test_regressions.py`
then checks every spec in that folder on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from specgen import write_spec

REGRESSIONS = Path(__file__).resolve().parent / "regressions"


@contextmanager
def saving_failures(spec: dict[str, Any], test: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        REGRESSIONS.mkdir(exist_ok=True)
        write_spec(spec, REGRESSIONS / f"failing-{test}.yaml")
        raise
