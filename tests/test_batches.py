"""The torch batch pipeline on small generated splits (CPU)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from incept.compiler.spec.schema import Augment
from incept.runtime.data import WHOLE, ArraySplit, FileSplit, Resize
from incept.runtime.data.images import read_image
from incept.runtime.errors import Code, InputError
from incept.runtime.torch.batches import make_batches, resample, scale_boxes

CPU = torch.device("cpu")
MEAN, STD = (0.25, 0.5), (0.5, 0.25)
ALL = Augment(crop_padding=2, flip=True, erasing=0.5, scale=[0.3, 1])


def array_split(n: int = 10, side: int = 6, channels: int = 2) -> ArraySplit:
    """Distinct random images; label i marks image i, so a batch says which images it holds."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8)
    return ArraySplit(images, np.arange(n, dtype=np.int64))


def plain(split: ArraySplit, labels: torch.Tensor) -> torch.Tensor:
    """The normalised images of `labels`, N x C x H x W, computed independently."""
    x = torch.from_numpy(split.images[labels.numpy()]).permute(0, 3, 1, 2).double() / 255
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, -1, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, -1, 1, 1)
    return ((x - mean) / std).float()


def batches(split, *, train, batch_size=4, **kw):
    kw.setdefault("size", (6, 6))
    return make_batches(
        split, train=train, batch_size=batch_size, device=CPU, mean=MEAN, std=STD, **kw
    )


def collect(b, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(b.epoch(epoch))


def test_eval_batches_keep_order_and_every_sample():
    split = array_split(10)
    b = batches(split, train=False)
    got = collect(b, 0)
    assert len(b) == 3 and [len(y) for _, y in got] == [4, 4, 2]
    for x, y in got:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(y), 2, 6, 6)
    labels = torch.cat([y for _, y in got])
    assert labels.tolist() == list(range(10))
    images = torch.cat([x for x, _ in got])
    assert torch.allclose(images, plain(split, labels), atol=1e-6)
    assert images[0, 1, 0, 0].item() == pytest.approx((split.images[0, 0, 0, 1] / 255 - 0.5) / 0.25)
    # eval never augments, even if asked to
    same = torch.cat([x for x, _ in collect(batches(split, train=False, augment=ALL), 5)])
    assert torch.equal(same, images)


def test_train_shuffles_and_drops_the_partial_batch():
    split = array_split(10)
    b = batches(split, train=True, seed=7)
    got = collect(b, 0)
    assert len(b) == 2 and [len(y) for _, y in got] == [4, 4]
    labels = torch.cat([y for _, y in got])
    assert len(set(labels.tolist())) == 8
    assert labels.tolist() != sorted(labels.tolist())  # shuffled (fixed seed)
    images = torch.cat([x for x, _ in got])
    assert torch.allclose(images, plain(split, labels), atol=1e-6)  # no augment: plain images


def test_epoch_is_deterministic():
    split = array_split(40)
    b = batches(split, train=True, augment=ALL, seed=3)
    first, again, other = collect(b, 3), collect(b, 3), collect(b, 4)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    # a second object with the same seed (a resumed run) yields the same epoch
    fresh = collect(batches(split, train=True, augment=ALL, seed=3), 3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, fresh, strict=True))
    assert not torch.equal(torch.cat([y for _, y in first]), torch.cat([y for _, y in other]))
    seeded = collect(batches(split, train=True, augment=ALL, seed=4), 3)
    assert not torch.equal(torch.cat([y for _, y in first]), torch.cat([y for _, y in seeded]))


def test_epoch_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    collect(batches(array_split(20), train=True, augment=ALL), 1)
    assert torch.equal(torch.rand(3), expected)


def test_sharding_gives_ranks_equal_disjoint_parts():
    split = array_split(11)
    ranks = [batches(split, train=True, batch_size=2, seed=5, rank=r, world=2) for r in (0, 1)]
    assert [len(b) for b in ranks] == [2, 2]  # 11 -> 10 -> 5 per rank -> 2 batches of 2
    parts = [torch.cat([y for _, y in collect(b, 2)]).tolist() for b in ranks]
    assert len(parts[0]) == len(parts[1]) == 4
    assert not set(parts[0]) & set(parts[1])
    # with batch size 1 nothing is dropped but the trimming: the ranks cover perm[:10]
    ones = [batches(split, train=True, batch_size=1, seed=5, rank=r, world=2) for r in (0, 1)]
    union = {int(y) for b in ones for _, y in collect(b, 2)}
    alone = [int(y) for _, y in collect(batches(split, train=True, batch_size=1, seed=5), 2)]
    assert union == set(alone[:10])
    assert [int(y) for _, y in collect(ones[1], 2)] == alone[1:10:2]


def test_augmentations_off_give_the_plain_images():
    split = array_split(12)
    off = Augment(crop_padding=0, flip=False, erasing=0.0)
    for x, y in collect(batches(split, train=True, augment=off, seed=1), 0):
        assert torch.allclose(x, plain(split, y), atol=1e-6)


def shifts(image: torch.Tensor, pad: int, fill: torch.Tensor) -> list[torch.Tensor]:
    """Every crop of `image` zero(=fill)-padded by `pad`, C x H x W."""
    c, h, w = image.shape
    padded = fill.view(c, 1, 1).expand(c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, pad : pad + h, pad : pad + w] = image
    return [padded[:, i : i + h, j : j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]


def test_crop_is_a_shift_with_black_padding():
    split = array_split(16)
    black = (torch.zeros(2) - torch.tensor(MEAN)) / torch.tensor(STD)
    moved = 0
    for x, y in collect(batches(split, train=True, augment=Augment(crop_padding=2)), 0):
        for image, original in zip(x, plain(split, y), strict=True):
            assert any(torch.allclose(image, s, atol=1e-6) for s in shifts(original, 2, black))
            moved += not torch.allclose(image, original, atol=1e-6)
    assert moved >= 8


def test_flip_mirrors_about_half():
    split = array_split(64)
    mirrored = 0
    for x, y in collect(batches(split, train=True, batch_size=8, augment=Augment(flip=True)), 0):
        for image, original in zip(x, plain(split, y), strict=True):
            if torch.allclose(image, original.flip(2), atol=1e-6):
                mirrored += 1
            else:
                assert torch.allclose(image, original, atol=1e-6)
    assert 16 <= mirrored <= 48


def test_erasing_fills_one_rectangle_with_zero():
    split = array_split(32, side=20, channels=1)
    mean, std = (0.9,), (0.5,)  # no pixel normalises to exactly 0
    b = make_batches(
        split,
        train=True,
        batch_size=8,
        device=CPU,
        size=(20, 20),
        mean=mean,
        std=std,
        augment=Augment(erasing=1.0),
    )
    areas = []
    for x, y in b.epoch(0):
        original = (torch.from_numpy(split.images[y.numpy()]).permute(0, 3, 1, 2) / 255 - 0.9) / 0.5
        for image, before in zip(x, original, strict=True):
            changed = ~torch.isclose(image, before, atol=1e-6)
            rows, cols = changed[0].any(1).nonzero()[:, 0], changed[0].any(0).nonzero()[:, 0]
            box = image[0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            assert torch.all(box == 0)  # a filled rectangle, nothing changed outside it
            assert int(changed.sum()) == box.numel()
            areas.append(box.numel() / 400)
    assert len(areas) == 32 and min(areas) >= 0.015 and max(areas) <= 0.34


def test_scale_boxes_fit_the_image_and_follow_the_paper_s_ranges():
    """GoogLeNet's scale augmentation: 8-100% of the area, aspect 3/4-4/3 (within the
    rounding of a box to whole pixels), drawn as torchvision's RandomResizedCrop draws
    them: 4,000 boxes on a 28 x 28 image against 4,000 of get_params (whose rejection of
    boxes that do not fit pulls the mean area below the 0.54 of a uniform draw)."""
    transforms = pytest.importorskip("torchvision.transforms")
    g = torch.Generator().manual_seed(0)
    augment = Augment(scale=[0.08, 1.0])
    top, left, h, w = scale_boxes((4000, 1, 28, 28), augment, g, CPU).unbind(1)
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all()
    )
    area, aspect = h * w / 28**2, w / h
    assert area.min() >= 0.06 and area.max() <= 1.0
    assert aspect.min() >= 0.75 * 0.85 and aspect.max() <= 4 / 3 / 0.85
    torch.manual_seed(0)
    image = torch.zeros(1, 28, 28)
    theirs = torch.tensor([transforms.RandomResizedCrop.get_params(image, [0.08, 1.0], [3 / 4, 4 / 3]) for _ in range(4000)], dtype=torch.float32)  # fmt: skip
    their_area = theirs[:, 2] * theirs[:, 3] / 28**2
    assert abs(area.mean() - their_area.mean()) < 0.015  # 3.5 standard errors
    assert abs(aspect.log().mean() - (theirs[:, 3] / theirs[:, 2]).log().mean()) < 0.015
    for q in (0.1, 0.5, 0.9):
        assert abs(area.quantile(q) - their_area.quantile(q)) < 0.03
    assert {(int(t), int(x)) for t, x in zip(top, left, strict=True)} > {(0, 0)}  # they move
    tall = scale_boxes((3, 1, 20, 24), Augment(scale=[0.99, 1], ratio=[3, 4]), g, CPU)
    assert tall.tolist() == [[6, 0, 8, 24]] * 3  # none fits: the centre box at aspect 3
    flat = scale_boxes((2, 1, 28, 28), Augment(scale=[1, 1], ratio=[50, 100]), g, CPU)
    assert flat.tolist() == [[13, 0, 1, 28]] * 2  # a box is a pixel high at least
    thin = scale_boxes((2, 1, 28, 28), Augment(scale=[1, 1], ratio=[0.01, 0.02]), g, CPU)
    assert thin.tolist() == [[0, 13, 28, 1]] * 2


def test_scale_crop_is_a_box_resized_to_the_input():
    """Each scaled image is some 5 x 5 box of its original (a quarter of the area, square)
    resized to 10 x 10 with the box's corners on the image's corners."""
    split = array_split(8, side=10, channels=1)
    augment = Augment(scale=[0.25, 0.25], ratio=[1, 1])
    mean, std = torch.tensor(MEAN[:1]).view(1, 1, 1), torch.tensor(STD[:1]).view(1, 1, 1)
    b = make_batches(split, train=True, batch_size=4, device=CPU, size=(10, 10), mean=MEAN[:1], std=STD[:1], augment=augment)  # fmt: skip
    places = set()
    for x, y in b.epoch(0):
        for image, label in zip(x, y, strict=True):
            original = torch.from_numpy(split.images[int(label)]).permute(2, 0, 1)[None] / 255
            hits = [
                (i, j)
                for i in range(6)
                for j in range(6)
                if torch.allclose(
                    image,
                    (
                        F.interpolate(
                            original[..., i : i + 5, j : j + 5],
                            size=(10, 10),
                            mode="bilinear",
                            align_corners=True,
                        )[0]
                        - mean
                    )
                    / std,  # fmt: skip
                    atol=1e-5,
                )
            ]
            assert hits, "every scaled image is a 5 x 5 box of its original"
            places.add(hits[0])
    assert len(places) > 2


def test_resample_of_the_whole_image_is_the_image():
    x = torch.rand(2, 3, 7, 9)
    whole = torch.tensor([[0.0, 0.0, 7.0, 9.0]] * 2)
    assert torch.allclose(resample(x, whole), x, atol=1e-6)


def test_a_batch_shown_as_pixels_is_the_images():
    """augmented.png's pixels (augment.as_pixels of a session's preview: the batch
    channels-last) are the images themselves when nothing augments them."""
    from incept.runtime.augment import as_pixels

    split = array_split(8)
    (x, y), *_ = collect(batches(split, train=True, batch_size=8), 0)
    pixels = as_pixels(x.permute(0, 2, 3, 1).numpy(), MEAN, STD)
    np.testing.assert_array_equal(pixels, split.images[y.numpy()])


def test_all_augmentations_keep_shapes_and_channels_last():
    split = array_split(20)
    b = batches(split, train=True, augment=ALL, channels_last=True)
    for x, y in b.epoch(0):
        assert x.shape == (4, 2, 6, 6) and x.dtype == torch.float32 and y.shape == (4,)
        assert x.is_contiguous(memory_format=torch.channels_last)


def test_resize_to_the_spec_size():
    split = array_split(5, side=6)
    (x, y), *_ = collect(batches(split, train=False, batch_size=5, size=(9, 12)), 0)
    assert x.shape == (5, 2, 9, 12)
    raw = torch.from_numpy(split.images).permute(0, 3, 1, 2).float() / 255
    expected = F.interpolate(raw, size=(9, 12), mode="bilinear", antialias=True)
    mean, std = torch.tensor(MEAN).view(1, 2, 1, 1), torch.tensor(STD).view(1, 2, 1, 1)
    assert torch.allclose(x, (expected - mean) / std, atol=1e-6)
    (small, _), *_ = collect(batches(split, train=True, batch_size=5, size=(3, 3), augment=ALL), 0)
    assert small.shape == (5, 2, 3, 3)


def test_batch_larger_than_the_data_is_a_flag_error():
    with pytest.raises(InputError) as info:
        batches(array_split(5), train=True, batch_size=4, world=2)
    assert info.value.code is Code.FLAG and "not one full batch" in info.value.message
    assert len(batches(array_split(5), train=False, batch_size=8)) == 1


def file_split(root: Path, n: int = 6) -> tuple[FileSplit, np.ndarray]:
    """n RGB PNGs of 5 x 7 (resized by the pipeline to 6 x 6) and their pixels."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (n, 5, 7, 3), dtype=np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        paths.append(root / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    return FileSplit(tuple(paths), np.arange(n, dtype=np.int64)), pixels


def test_file_batches_decode_resize_and_normalise(tmp_path):
    split, pixels = file_split(tmp_path)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.3, 0.4)
    b = make_batches(split, train=False, batch_size=4, device=CPU, size=(6, 6), mean=mean, std=std)
    got = list(b.epoch(0))
    assert [len(y) for _, y in got] == [4, 2] and got[0][0].shape == (4, 3, 6, 6)
    resized = np.stack(
        [np.asarray(Image.fromarray(p).resize((6, 6), Image.BILINEAR)) for p in pixels]
    )
    expected = torch.from_numpy(resized).permute(0, 3, 1, 2) / 255
    expected = (expected - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(torch.cat([x for x, _ in got]), expected, atol=1e-6)


def test_file_batches_cut_a_split_s_centre_crop(tmp_path):
    """A split with crop_pct (eval of a library's weights) is read as read_image's centre
    crop, not squeezed whole."""
    split, _ = file_split(tmp_path)
    split = replace(split, resize=Resize(0.75))
    b = make_batches(
        split, train=False, batch_size=4, device=CPU, size=(6, 6), mean=(0,) * 3, std=(1,) * 3
    )
    got = torch.cat([x for x, _ in b.epoch(0)])
    crops = [read_image(p, channels=3, size=(6, 6), resize=Resize(0.75)) for p in split.paths]
    expected = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2) / 255
    assert torch.allclose(got, expected, atol=1e-6)
    whole = torch.cat([x for x, _ in make_batches(replace(split, resize=WHOLE), train=False, batch_size=4, device=CPU, size=(6, 6), mean=(0,) * 3, std=(1,) * 3).epoch(0)])  # fmt: skip
    assert not torch.allclose(got, whole, atol=1e-2)


def test_file_batches_workers_match_and_are_deterministic(tmp_path):
    split, _ = file_split(tmp_path, 9)
    kw = dict(
        train=True,
        batch_size=2,
        device=CPU,
        size=(6, 6),
        mean=MEAN[:1] * 3,
        std=STD[:1] * 3,
        augment=ALL,
        seed=11,
    )
    inline = list(make_batches(split, **kw).epoch(2))
    pooled = make_batches(split, workers=2, **kw)
    assert len(pooled) == 4
    for _ in range(2):  # persistent workers, the epoch read twice
        for (x1, y1), (x2, y2) in zip(inline, pooled.epoch(2), strict=True):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.parametrize("workers", [0, 1])
def test_file_batches_unreadable_image(tmp_path, workers):
    split, _ = file_split(tmp_path, 3)
    split.paths[1].write_bytes(b"garbage")
    b = make_batches(
        split,
        train=False,
        batch_size=2,
        device=CPU,
        size=(6, 6),
        mean=MEAN[:1] * 3,
        std=STD[:1] * 3,
        workers=workers,
    )
    with pytest.raises(InputError) as info:
        list(b.epoch(0))
    assert info.value.code is Code.IMAGE and info.value.where == str(split.paths[1])
