"""When TensorFlow's padding="same" takes exactly torch's windows (backends/keras/forms.py).

Windows are listed by their first row: torch pads `p` in front and gives
floor((n + 2p - k) / s) + 1 windows (convolutions, floor-mode pools); the decision must
hold exactly when TensorFlow's "same" windows are that list.
"""

from __future__ import annotations

import pytest

from incept.backends.keras.forms import same_pads, same_windows


def _torch_starts(n: int, k: int, s: int, p: int) -> list[int]:
    return [-p + i * s for i in range((n + 2 * p - k) // s + 1)]


def _same_starts(n: int, k: int, s: int) -> list[int]:
    out, before, _ = same_pads(n, k, s)
    return [-before + i * s for i in range(out)]


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_windows_is_exact_on_every_small_case(stride):
    cases = same = 0
    for k in range(1, 8):
        for p in range(k // 2 + 1):
            for n in range(max(k - 2 * p, 1), 24):
                out = (n + 2 * p - k) // stride + 1
                want = _torch_starts(n, k, stride, p) == _same_starts(n, k, stride)
                assert same_windows((n,), (k,), (stride,), (p,), (out,)) is want, (n, k, p)
                cases, same = cases + 1, same + want
    assert 0 < same < cases  # both answers occur


def test_same_windows_known_cases():
    # stride 1, odd kernel, padding k // 2: at every size
    assert all(same_windows((n, n), (5, 3), (1, 1), (2, 1), (n, n)) for n in range(1, 30))
    # GoogLeNet's conv1, 7x7/2 padding 3 at 224: TensorFlow pads 2 in front
    assert same_pads(224, 7, 2) == (112, 2, 3)
    assert not same_windows((224, 224), (7, 7), (2, 2), (3, 3), (112, 112))
    # 3x3/2 padding 1: "same" at odd sizes (pads 1 and 1), not at even ones (0 and 1)
    assert same_windows((11, 11), (3, 3), (2, 2), (1, 1), (6, 6))
    assert not same_windows((10, 10), (3, 3), (2, 2), (1, 1), (5, 5))
    # ceil-mode 3x3/2 max pool at 112 (56 out): only the padding after, as in "same"
    assert same_windows((112,), (3,), (2,), (0,), (56,))
    # one axis equal, the other not: explicit padding
    assert not same_windows((11, 10), (3, 3), (2, 2), (1, 1), (6, 5))
