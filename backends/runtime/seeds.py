"""Seeds mixed from (seed, epoch, ...) parts, shared by the backends' input pipelines."""

from __future__ import annotations

import numpy as np


def mix_seed(*parts: int) -> int:
    """A 64-bit seed mixed from non-negative parts (nearby parts give unrelated seeds)."""
    state = np.random.SeedSequence([p & 0xFFFF_FFFF_FFFF_FFFF for p in parts])
    return int(state.generate_state(1, np.uint64)[0])
