"""The torch evaluation helper: crops cut the right pixels, probabilities average exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from incept.runtime.crops import Crop, crop_plan  # noqa: E402
from incept.runtime.torch.evaluate import apply_crop, predict_probs  # noqa: E402


def _coords(n: int = 1, size: int = 32) -> torch.Tensor:
    """N x 2 x size x size float64 images: channel 0 holds y, channel 1 holds x (+ 100 * image)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    base = torch.stack([y, x]).double()
    return torch.stack([base + 100 * i for i in range(n)])


def test_ten_crops_cut_the_corners_centre_and_mirrors_exactly():
    # A 32x32 image and a 28x28 input: the 10-crop scale (32) needs no resize.
    images = _coords()
    crops = [apply_crop(images, c, (28, 28)) for c in crop_plan(10, (32, 32), (28, 28))]
    starts = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
    for (top, left), plain, mirrored in zip(starts, crops[::2], crops[1::2], strict=True):
        assert plain.shape == (1, 2, 28, 28)
        assert plain[0, 0, 0, 0] == top and plain[0, 1, 0, 0] == left  # its top-left pixel
        assert plain[0, 0, -1, -1] == top + 27 and plain[0, 1, -1, -1] == left + 27
        expected = images[..., top : top + 28, left : left + 28]
        assert torch.equal(plain, expected)
        assert torch.equal(mirrored, expected.flip(-1))
        assert mirrored[0, 1, 0, 0] == left + 27 and mirrored[0, 1, 0, -1] == left  # x reversed


def test_crops_of_an_upscaled_image_are_cut_after_resizing():
    images = _coords(2, size=28)  # shorter side 28 -> 32, then the top-right 28x28
    crop = crop_plan(10, (28, 28), (28, 28))[2]
    assert crop == Crop(32, (0, 4, 28, 28), False)
    resized = F.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
    out = apply_crop(images, crop, (28, 28))
    assert torch.equal(out, resized[..., 0:28, 4:32])
    assert torch.equal(out[1] - out[0], torch.full_like(out[0], 100.0))  # each image alone


def test_the_resized_square_is_the_whole_window_shrunk_to_the_input():
    images = _coords(size=40)  # 144 crops at shorter side 32 shrink the 40x40 first
    plan = [c for c in crop_plan(144, (40, 40), (28, 28)) if c.resize_to_input]
    assert plan[0] == Crop(32, (0, 0, 32, 32), False, resize_to_input=True)
    out = apply_crop(images, plan[0], (28, 28))
    shrunk = F.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(
        out, F.interpolate(shrunk, size=(28, 28), mode="bilinear", antialias=True)
    )
    assert torch.equal(apply_crop(images, plan[1], (28, 28)), out.flip(-1))


def test_every_crop_of_a_flat_image_stays_flat():
    # Antialiased resizes are weighted averages: a constant image must come out unchanged.
    images = torch.full((2, 3, 40, 50), 0.7)
    for crop in crop_plan(144, (40, 50), (28, 28)):
        out = apply_crop(images, crop, (28, 28))
        assert out.shape == (2, 3, 28, 28)
        assert torch.allclose(out, torch.full_like(out, 0.7), atol=1e-6)


def test_a_box_outside_the_image_is_an_error():
    with pytest.raises(ValueError, match="outside the resized 32x32"):
        apply_crop(_coords(), Crop(32, (8, 8, 28, 28), False), (28, 28))


class _Corners(torch.nn.Module):
    """Logits = (top-left y, bottom-right x, 0) / 32 of each input: known for every crop."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(1 / 32, dtype=torch.float64))
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        zero = torch.zeros_like(x[:, 0, 0, 0])
        return torch.stack([x[:, 0, 0, 0], x[:, 1, -1, -1], zero], dim=1) * self.scale


def _expected(image: np.ndarray, plan: list[Crop]) -> np.ndarray:
    """The crop-averaged softmax of _Corners, from the boxes alone (no resizing involved)."""
    probs = []
    for crop in plan:
        top, left, h, w = crop.box
        cut = image[:, top : top + h, left : left + w]
        cut = cut[:, :, ::-1] if crop.mirror else cut
        logits = np.array([cut[0, 0, 0], cut[1, -1, -1], 0.0]) / 32
        probs.append(np.exp(logits) / np.exp(logits).sum())
    return np.mean(probs, axis=0)


def test_predict_probs_averages_the_softmax_over_the_plan():
    images, labels = _coords(3), torch.tensor([2, 0, 1])
    plan = crop_plan(10, (32, 32), (28, 28))
    batches = [(images[:2], labels[:2]), (images[2:], labels[2:])]
    model = _Corners()
    probs, got_labels = predict_probs(model, batches, plan, (28, 28))
    assert probs.dtype == np.float64 and probs.shape == (3, 3)
    assert got_labels.dtype == np.int64 and got_labels.tolist() == [2, 0, 1]
    assert model.calls == [(2, 2, 28, 28)] * 10 + [(1, 2, 28, 28)] * 10
    for i in range(3):
        np.testing.assert_allclose(probs[i], _expected(images[i].numpy(), plan), rtol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    # By hand: image 0's top-left crop alone gives softmax((0, 27, 0) / 32).
    one, _ = predict_probs(model, [(images[:1], labels[:1])], plan[:1], (28, 28))
    e = np.exp(27 / 32)
    np.testing.assert_allclose(one[0], [1 / (e + 2), e / (e + 2), 1 / (e + 2)], rtol=1e-12)


def test_predict_probs_takes_the_logits_from_a_tuple_and_allows_autocast():
    class WithAux(torch.nn.Module):
        def forward(self, x):
            logits = torch.stack([x.mean(dim=(1, 2, 3)), -x.mean(dim=(1, 2, 3))], dim=1)
            return logits, torch.zeros_like(logits)  # (logits, aux) as in training mode

    images = torch.full((4, 1, 28, 28), 0.25)
    plan = crop_plan(1, (28, 28), (28, 28))
    want = np.exp(0.25) / (np.exp(0.25) + np.exp(-0.25))
    probs, _ = predict_probs(WithAux(), [(images, torch.zeros(4))], plan, (28, 28))
    np.testing.assert_allclose(probs[:, 0], want, rtol=1e-6)
    bf16, _ = predict_probs(WithAux(), [(images, torch.zeros(4))], plan, (28, 28), autocast=True)
    np.testing.assert_allclose(bf16[:, 0], want, atol=1e-2)


def test_predict_probs_refuses_an_empty_plan():
    with pytest.raises(ValueError, match="empty"):
        predict_probs(_Corners(), [], [], (28, 28))
