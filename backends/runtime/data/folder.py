"""Class-per-folder image sets: DIR/train/<class>/*.png and DIR/val/<class>/*.png.

The held-out split may be named val/, validation/ or test/ (the first that exists), the
names data sets are shipped with. Classes are the train folder's subfolder names,
sorted; the held-out split must have the same ones.
Files are only listed here (decoded later by the backend's workers); the channel count
is read from the headers of the first image of every class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from incept.runtime.data import FileSplit
from incept.runtime.data.images import IMAGE_SUFFIXES, image_channels
from incept.runtime.errors import Code, InputError

#: Names of the held-out split's folder, in the order they are looked for.
HELD_OUT = ("val", "validation", "test")
_LAYOUT = "imagefolder:DIR needs DIR/train and DIR/val (or validation, test)"


def held_out(root: Path) -> Path:
    """root's held-out split folder: the first of HELD_OUT that exists."""
    for name in HELD_OUT:
        if (root / name).is_dir():
            return root / name
    raise InputError(Code.DATA, root / HELD_OUT[0], f"no such folder ({_LAYOUT})")


def list_classes(root: Path) -> tuple[str, ...]:
    """The sorted class folder names of root/train, checked against the held-out split's."""
    if not root.is_dir():
        raise InputError(Code.DATA, root, f"no such folder ({_LAYOUT})")
    train = _class_dirs(root / "train")
    test_dir = held_out(root)
    test = _class_dirs(test_dir)
    if train != test:
        only_train, only_test = sorted(set(train) - set(test)), sorted(set(test) - set(train))
        name = test_dir.name
        raise InputError(
            Code.DATA,
            root,
            f"train/ and {name}/ must hold the same class folders: only in train: "
            f"{', '.join(only_train) or '-'}; only in {name}: {', '.join(only_test) or '-'}",
        )
    return train


def _class_dirs(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        raise InputError(Code.DATA, folder, "no such folder: expected one subfolder per class")
    names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    if not names:
        raise InputError(Code.DATA, folder, "no class folders: expected one subfolder per class")
    return names


def list_split(folder: Path, classes: tuple[str, ...]) -> FileSplit:
    """The images of folder/<class>/ for each class, label = the class's index."""
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(
            p
            for p in (folder / name).iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not files:
            raise InputError(
                Code.DATA,
                folder / name,
                f"no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder",
            )
        paths += files
        labels += [label] * len(files)
    return FileSplit(tuple(paths), np.asarray(labels, dtype=np.int64))


def folder_channels(split: FileSplit) -> int:
    """3 if the first image of any class is in colour, else 1 (grey)."""
    firsts = np.flatnonzero(np.r_[True, split.labels[1:] != split.labels[:-1]])
    return max(image_channels(split.paths[i]) for i in firsts)
