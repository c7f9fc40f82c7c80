"""The runtime's data layer on files written here: IDX, CIFAR-10 batches, image folders."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from incept.runtime.data import INTERPOLATIONS, ArraySplit, Dataset, FileSplit, Resize, sources
from incept.runtime.data.idx import read_idx
from incept.runtime.data.images import read_image
from incept.runtime.data.sources import (
    FASHION_MNIST_FILES,
    channel_stats,
    check_fits,
    open_dataset,
)
from incept.runtime.errors import Code, InputError

IMAGES, LABELS = 0x803, 0x801


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}i", magic, *dims) + payload


def write(path: Path, data: bytes, *, gz: bool = True) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fail(call, code: Code = Code.DATA) -> InputError:
    """The InputError `call()` raises, checked to be one line with `code`."""
    with pytest.raises(InputError) as info:
        call()
    assert info.value.code is code
    assert "\n" not in str(info.value)
    return info.value


# ---------------------------------------------------------------- IDX


def test_read_idx_images_gzipped(tmp_path):
    pixels = bytes(range(12))  # 2 images of 2 x 3
    got = read_idx(write(tmp_path / "x.gz", idx_bytes(IMAGES, (2, 2, 3), pixels)))
    assert got.dtype == np.uint8 and got.shape == (2, 2, 3)
    assert got.tolist() == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]
    assert got.flags.writeable


def test_read_idx_labels_plain(tmp_path):
    got = read_idx(write(tmp_path / "y", idx_bytes(LABELS, (4,), b"\x09\x00\x03\xff"), gz=False))
    assert got.dtype == np.uint8 and got.tolist() == [9, 0, 3, 255]


CORRUPT = {
    "wrong magic": (idx_bytes(0x802, (1,), b"\x00"), True, "magic 00000802"),
    "float payload": (idx_bytes(0x0D03, (1, 1, 1), b"\x00"), True, "magic 00000d03"),
    "empty": (b"", True, "magic missing"),
    "truncated header": (struct.pack(">Ii", IMAGES, 2), True, "truncated header"),
    "truncated": (idx_bytes(IMAGES, (2, 2, 2), bytes(7)), True, "truncated: 7 of 8 bytes"),
    "trailing": (idx_bytes(LABELS, (2,), bytes(5)), True, "3 trailing bytes after the labels 2"),
    "zero rows": (idx_bytes(IMAGES, (2, 0, 2), b""), True, "bad dimensions 2 x 0 x 2"),
    "negative count": (idx_bytes(LABELS, (-1,), b""), True, "bad dimensions -1"),
    "plain named .gz": (idx_bytes(LABELS, (1,), b"\x01"), False, "not a gzip file"),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_read_idx_rejects(tmp_path, case):
    data, gz, fragment = CORRUPT[case]
    path = write(tmp_path / "f.gz", data, gz=gz)
    err = fail(lambda: read_idx(path))
    assert err.where == str(path)
    assert fragment in err.message


def test_read_idx_corrupt_gzip(tmp_path):
    whole = gzip.compress(idx_bytes(LABELS, (100,), bytes(range(100))))
    cut = write(tmp_path / "cut.gz", whole[:-12], gz=False)  # stream ends early
    assert "corrupt gzip data" in fail(lambda: read_idx(cut)).message
    garbled = write(tmp_path / "bad.gz", whole[:10] + b"\xff" * 20 + whole[30:], gz=False)
    assert "corrupt gzip data" in fail(lambda: read_idx(garbled)).message


def test_read_idx_missing(tmp_path):
    err = fail(lambda: read_idx(tmp_path / "none.gz"))
    assert err.where == str(tmp_path / "none.gz") and "cannot read" in err.message


# ---------------------------------------------------------------- Fashion-MNIST


def fake_fashion(folder: Path, n_train: int = 4, n_test: int = 2, *, gz: bool = True) -> Path:
    """The four IDX files with 2 x 3 images whose first pixel is the image's index."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        pixels = np.zeros((n, 2, 3), np.uint8)
        pixels[:, 0, 0] = np.arange(n)
        labels = np.arange(n, dtype=np.uint8) % 10
        img_name, lbl_name = f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"
        if not gz:
            img_name, lbl_name = img_name[:-3], lbl_name[:-3]
        write(folder / img_name, idx_bytes(IMAGES, (n, 2, 3), pixels.tobytes()), gz=gz)
        write(folder / lbl_name, idx_bytes(LABELS, (n,), labels.tobytes()), gz=gz)
    return folder


def test_fashion_mnist_reads_four_files(tmp_path):
    ds = open_dataset("fashion-mnist", str(fake_fashion(tmp_path, 5, 3)))
    assert ds.name == "fashion-mnist" and ds.channels == 1 and len(ds.classes) == 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert isinstance(ds.train, ArraySplit) and isinstance(ds.test, ArraySplit)
    assert ds.train.images.shape == (5, 2, 3, 1) and ds.test.images.shape == (3, 2, 3, 1)
    assert ds.train.images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert ds.train.labels.dtype == np.int64 and ds.test.labels.tolist() == [0, 1, 2]


def test_fashion_mnist_reads_gunzipped_files(tmp_path):
    ds = open_dataset("fashion-mnist", str(fake_fashion(tmp_path, 3, 2, gz=False)))
    assert len(ds.train) == 3 and len(ds.test) == 2


def test_fashion_mnist_folder_order(tmp_path, monkeypatch):
    """--data-dir, else $INCEPT_DATA, else the default folder."""
    flag, env, default = (fake_fashion(tmp_path / d, n) for d, n in (("f", 3), ("e", 4), ("d", 5)))
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", default)
    monkeypatch.delenv("INCEPT_DATA", raising=False)
    assert len(open_dataset("fashion-mnist").train) == 5
    monkeypatch.setenv("INCEPT_DATA", str(env))
    assert len(open_dataset("fashion-mnist").train) == 4
    assert len(open_dataset("fashion-mnist", str(flag)).train) == 3


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.delenv("INCEPT_DATA", raising=False)
    err = fail(lambda: open_dataset("fashion-mnist"))
    assert err.where == str(tmp_path / "absent")
    assert "apt-get install dataset-fashion-mnist" in err.message
    assert "--data-dir" in err.message and "INCEPT_DATA" in err.message
    for name in FASHION_MNIST_FILES:
        assert name in err.message


def test_fashion_mnist_names_the_missing_file(tmp_path):
    folder = fake_fashion(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    err = fail(lambda: open_dataset("fashion-mnist", str(folder)))
    assert "missing t10k-labels-idx1-ubyte.gz)" in err.message


def test_fashion_mnist_cross_checks(tmp_path):
    folder = fake_fashion(tmp_path, 4)
    labels = folder / "train-labels-idx1-ubyte.gz"
    write(labels, idx_bytes(LABELS, (3,), b"\x00\x01\x02"))
    err = fail(lambda: open_dataset("fashion-mnist", str(folder)))
    assert err.where == str(labels) and "3 labels for the 4 images" in err.message
    write(labels, idx_bytes(LABELS, (4,), b"\x00\x01\x0a\x02"))
    err = fail(lambda: open_dataset("fashion-mnist", str(folder)))
    assert "label 10 out of range: 10 classes (0..9)" in err.message
    write(folder / "train-images-idx3-ubyte.gz", idx_bytes(LABELS, (4,), bytes(4)))
    assert (
        "holds labels, not images"
        in fail(lambda: open_dataset("fashion-mnist", str(folder))).message
    )


def test_unknown_data_set_lists_choices():
    err = fail(lambda: open_dataset("mnist"))
    assert err.where == "mnist"
    assert "fashion-mnist, cifar10:DIR, imagefolder:DIR" in err.message
    assert "needs a folder" in fail(lambda: open_dataset("cifar10")).message


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(folder: Path, per_batch: int = 2) -> Path:
    """Five training batches and a test batch; image i of batch b has first byte 10*b + i."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        data = np.random.default_rng(b).integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, 0] = 10 * b + np.arange(per_batch)
        batch = {b"batch_label": name.encode(), b"data": data, b"labels": [b % 10] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_cifar10_reads_batches(tmp_path):
    folder = write_cifar(tmp_path / "c")
    ds = open_dataset(f"cifar10:{folder}")
    assert ds.name == f"cifar10:{folder}" and ds.channels == 3
    assert ds.classes == tuple(f"class{i}" for i in range(10))
    assert isinstance(ds.train, ArraySplit) and isinstance(ds.test, ArraySplit)
    assert ds.train.images.shape == (10, 32, 32, 3) and ds.test.images.shape == (2, 32, 32, 3)
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert ds.train.images[:, 0, 0, 0].tolist() == [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]
    # channel-major rows: byte k*1024 + r*32 + c is channel k of pixel (r, c)
    data = pickle.loads((folder / "data_batch_2").read_bytes())[b"data"]
    for k, r, c in ((0, 5, 7), (1, 31, 0), (2, 17, 30)):
        assert ds.train.images[3, r, c, k] == data[1, k * 1024 + r * 32 + c]


def test_cifar10_reads_numpy_protocol_5(tmp_path):
    folder = write_cifar(tmp_path)
    batch = {b"data": np.full((1, 3072), 7, np.uint8), b"labels": np.array([3])}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=5))
    ds = open_dataset("cifar10", str(folder))
    assert ds.test.labels.tolist() == [3] and int(ds.test.images.sum()) == 7 * 3072


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_other_globals(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Boom()}, protocol=2))
    err = fail(lambda: open_dataset(f"cifar10:{folder}"))
    assert err.where == str(folder / "data_batch_3")
    assert "refused global posix.system" in err.message or "refused global os.system" in err.message


def test_cifar10_bad_batches(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_5").unlink()
    err = fail(lambda: open_dataset(f"cifar10:{folder}"))
    assert err.where == str(folder / "data_batch_5") and err.message.startswith("missing")
    (folder / "data_batch_5").write_bytes(b"not a pickle")
    assert "not a CIFAR-10 python batch" in fail(lambda: open_dataset(f"cifar10:{folder}")).message
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (folder / "data_batch_5").write_bytes(pickle.dumps(bad, protocol=2))
    assert "rows hold 100 bytes" in fail(lambda: open_dataset(f"cifar10:{folder}")).message
    bad = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}
    (folder / "data_batch_5").write_bytes(pickle.dumps(bad, protocol=2))
    assert "2 images but 1 labels" in fail(lambda: open_dataset(f"cifar10:{folder}")).message
    bad = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}
    (folder / "data_batch_5").write_bytes(pickle.dumps(bad, protocol=2))
    assert "label 12 out of range" in fail(lambda: open_dataset(f"cifar10:{folder}")).message
    err = fail(lambda: open_dataset(f"cifar10:{tmp_path / 'nowhere'}"))
    assert "no such folder" in err.message


# ---------------------------------------------------------------- image folders


def png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_folder(root: Path, *, colour: bool = False) -> Path:
    """train/{cat,ant} with 2 and 1 images, val/{cat,ant} with 1 each; 4 x 5 images."""
    counts = {"train": {"cat": 2, "ant": 1}, "val": {"cat": 1, "ant": 1}}
    for split, classes in counts.items():
        for name, n in classes.items():
            for i in range(n):
                value = 40 * i + (100 if name == "cat" else 0)
                shape = (4, 5, 3) if colour and name == "ant" else (4, 5)
                png(root / split / name / f"{i}.png", np.full(shape, value, np.uint8))
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    return root


def test_imagefolder_lists_files(tmp_path):
    root = write_folder(tmp_path / "f")
    ds = open_dataset(f"imagefolder:{root}")
    assert ds.classes == ("ant", "cat") and ds.channels == 1
    assert isinstance(ds.train, FileSplit) and isinstance(ds.test, FileSplit)
    assert [p.relative_to(root).as_posix() for p in ds.train.paths] == [
        "train/ant/0.png",
        "train/cat/0.png",
        "train/cat/1.png",
    ]
    assert ds.train.labels.tolist() == [0, 1, 1] and ds.test.labels.tolist() == [0, 1]
    assert open_dataset(f"imagefolder:{write_folder(tmp_path / 'c', colour=True)}").channels == 3


@pytest.mark.parametrize("name", ["validation", "test"])
def test_imagefolder_takes_validation_or_test_for_val(tmp_path, name):
    root = write_folder(tmp_path / "f")
    (root / "val").rename(root / name)
    ds = open_dataset(f"imagefolder:{root}")
    assert [p.relative_to(root).as_posix() for p in ds.test.paths] == [
        f"{name}/ant/0.png",
        f"{name}/cat/0.png",
    ]
    png(root / name / "bee" / "0.png", np.zeros((2, 2), np.uint8))
    err = fail(lambda: open_dataset(f"imagefolder:{root}"))
    assert err.message.endswith(f"only in train: -; only in {name}: bee")
    (root / "val" / "ant").mkdir(parents=True)  # val/ comes first where there are two
    assert fail(lambda: open_dataset(f"imagefolder:{root}")).message.endswith(
        "only in train: cat; only in val: -"
    )


def test_imagefolder_errors(tmp_path):
    root = write_folder(tmp_path)
    png(root / "val" / "bee" / "0.png", np.zeros((2, 2), np.uint8))
    err = fail(lambda: open_dataset(f"imagefolder:{root}"))
    assert "only in train: -; only in val: bee" in err.message
    (root / "val" / "bee" / "0.png").unlink()
    (root / "train" / "bee").mkdir()
    err = fail(lambda: open_dataset(f"imagefolder:{root}"))
    assert err.where == str(root / "train" / "bee") and "no images" in err.message
    err = fail(lambda: open_dataset(f"imagefolder:{tmp_path / 'none'}"))
    assert "no such folder" in err.message
    (tmp_path / "no-val" / "train" / "cat").mkdir(parents=True)
    err = fail(lambda: open_dataset(f"imagefolder:{tmp_path / 'no-val'}"))
    assert (err.where, err.message) == (
        str(tmp_path / "no-val" / "val"),
        "no such folder (imagefolder:DIR needs DIR/train and DIR/val (or validation, test))",
    )
    (tmp_path / "empty" / "train").mkdir(parents=True)
    err = fail(lambda: open_dataset(f"imagefolder:{tmp_path / 'empty'}"))
    assert err.where == str(tmp_path / "empty" / "train") and "no class folders" in err.message


@pytest.mark.parametrize(
    "image_hw, size, crop_pct, resize",
    [
        ((301, 457), 224, 224 / 256, 256),
        ((400, 350), 299, 299 / 342, 342),
        ((90, 70), 64, 0.875, 73),
    ],
)
def test_a_centre_crop_is_torchvisions_evaluation_transform(
    tmp_path, image_hw, size, crop_pct, resize
):
    """read_image(size, crop_pct) gives torchvision's Resize(resize) + CenterCrop(size)
    pixels exactly (both are Pillow's bilinear resize): landscape, portrait, and timm's
    floor(64 / 0.875) = 73."""
    transforms = pytest.importorskip("torchvision.transforms")
    pixels = np.random.default_rng(3).integers(0, 256, (*image_hw, 3), dtype=np.uint8)
    path = png(tmp_path / "x.png", pixels)
    want = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size)])
    got = read_image(path, channels=3, size=(size, size), resize=Resize(crop_pct))
    assert got.shape == (size, size, 3)
    np.testing.assert_array_equal(got, np.asarray(want(Image.open(path))))


@pytest.mark.parametrize(
    "image_hw, crop_pct",
    [((400, 350), 0.875), ((330, 500), 0.8975), ((299, 299), 0.8975)],
)
def test_a_bicubic_centre_crop_is_timms_evaluation_transform(tmp_path, image_hw, crop_pct):
    """read_image with Resize(crop_pct, "bicubic") gives the pixels of timm's evaluation
    transform for its Inception ports (create_transform of their pretrained_cfg's
    interpolation and crop_pct, at 299) exactly; a bilinear crop differs."""
    timm_data = pytest.importorskip("timm.data")
    pixels = np.random.default_rng(4).integers(0, 256, (*image_hw, 3), dtype=np.uint8)
    path = png(tmp_path / "x.png", pixels)
    timm = timm_data.create_transform(
        input_size=(3, 299, 299), interpolation="bicubic", crop_pct=crop_pct, use_prefetcher=True
    )  # the uint8 pipeline: resize, centre crop, to a C x H x W tensor
    want = np.asarray(timm(Image.open(path).convert("RGB"))).transpose(1, 2, 0)
    got = read_image(path, channels=3, size=(299, 299), resize=Resize(crop_pct, "bicubic"))
    np.testing.assert_array_equal(got, want)
    bilinear = read_image(path, channels=3, size=(299, 299), resize=Resize(crop_pct))
    assert np.abs(bilinear.astype(int) - want).max() > 10


def test_resize_filters_are_the_ones_the_cli_offers():
    from incept.runtime import cli

    assert cli.INTERPOLATIONS == INTERPOLATIONS
    with pytest.raises(ValueError, match="interpolation must be one of"):
        Resize(0.875, "nearest")


def test_read_image(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    path = png(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(path, channels=3), rgb)
    grey = read_image(path, channels=1)
    assert grey.shape == (2, 3, 1)  # ITU-R 601-2 luma: (299 R + 587 G + 114 B) / 1000
    assert grey[1, 2, 0] == round((299 * 150 + 587 * 160 + 114 * 170) / 1000)
    assert read_image(path, channels=3, size=(4, 6)).shape == (4, 6, 3)
    flat = png(tmp_path / "flat.png", np.full((8, 8), 77, np.uint8))
    assert np.all(read_image(flat, channels=3, size=(3, 5)) == 77)


def test_read_image_errors(tmp_path):
    text = tmp_path / "x.png"
    text.write_text("hello")
    err = fail(lambda: read_image(text, channels=3), Code.IMAGE)
    assert err.where == str(text) and "not an image" in err.message
    missing = fail(lambda: read_image(tmp_path / "no.png", channels=1), Code.IMAGE)
    assert missing.message == "no such file"
    whole = png(tmp_path / "t.png", np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:300])
    assert "cannot decode" in fail(lambda: read_image(cut, channels=1), Code.IMAGE).message


# ---------------------------------------------------------------- spec fit and stats


def tiny(channels: int, classes: int) -> Dataset:
    split = ArraySplit(np.zeros((1, 2, 2, channels), np.uint8), np.zeros(1, np.int64))
    return Dataset("toy", tuple(map(str, range(classes))), channels, split, split)


def test_check_fits():
    check_fits(tiny(1, 10), channels=1, num_classes=10, where="s.yaml")
    err = fail(lambda: check_fits(tiny(1, 10), channels=3, num_classes=10, where="s.yaml"))
    assert err.where == "s.yaml"
    assert "toy has 1-channel images but the spec's input has 3 channels" in err.message
    assert "`input: {channels: 1, size: ...}`" in err.message
    err = fail(lambda: check_fits(tiny(3, 10), channels=3, num_classes=1000, where="s.yaml"))
    assert "toy has 10 classes but the spec has num_classes: 1000" in err.message
    assert "extends it with `num_classes: 10`" in err.message


def test_channel_stats_exact():
    images = np.zeros((2, 1, 2, 2), np.uint8)  # N x H x W x C
    images[..., 0] = [[[0, 255]], [[255, 0]]]  # mean 1/2, std 1/2
    images[..., 1] = 51  # 0.2 everywhere, std 0
    mean, std = channel_stats(ArraySplit(images, np.zeros(2, np.int64)))
    assert mean == pytest.approx((0.5, 0.2), abs=1e-15)
    assert std == pytest.approx((0.5, 0.0), abs=1e-15)
    values = np.array([0, 51, 102, 255], np.uint8).reshape(4, 1, 1, 1)
    mean, std = channel_stats(ArraySplit(values, np.zeros(4, np.int64)))
    assert mean[0] == pytest.approx(0.4, abs=1e-15)
    assert std[0] == pytest.approx(np.std([0, 0.2, 0.4, 1.0]), abs=1e-15)


def test_channel_stats_files(tmp_path):
    root = write_folder(tmp_path)  # train: ant 0, cat 100 and 140, all 4 x 5
    ds = open_dataset(f"imagefolder:{root}")
    mean, std = channel_stats(ds.train, channels=1)
    assert mean[0] == pytest.approx(80 / 255, abs=1e-12)
    assert std[0] == pytest.approx(np.std([0, 100, 140]) / 255, abs=1e-12)
    mean3, _ = channel_stats(ds.train, channels=3)
    assert mean3 == pytest.approx((80 / 255,) * 3, abs=1e-12)
    assert channel_stats(ds.train) == (mean, std)  # the folder's own channels: grey
