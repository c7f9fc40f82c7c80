"""Image files as uint8 arrays (Pillow), for image folders and `incept predict`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from incept.runtime.errors import Code, InputError

from . import WHOLE, Resize

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_MODES = {1: "L", 3: "RGB"}
_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def image_files(paths: Sequence[Path]) -> list[Path]:
    """`paths` with each folder replaced by the image files under it (IMAGE_SUFFIXES, at
    any depth, sorted); every one checked to be a file, so a missing one is reported
    before a model loads."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                raise InputError(
                    Code.IMAGE, path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
                )
            files += found
        elif not path.is_file():
            raise InputError(Code.IMAGE, path, "no such file")
        else:
            files.append(path)
    return files


def read_image(
    path: Path | str,
    *,
    channels: int,
    size: tuple[int, int] | None = None,
    resize: Resize = WHOLE,
) -> np.ndarray:
    """H x W x C uint8 with C = `channels` (1: grey "L", 3: "RGB", converted by Pillow).

    With `size` = (H, W) the image is resized with Pillow's `resize.interpolation` filter
    (bilinear unless told), which widens its support when shrinking (antialiased), like
    the array pipeline's resize: the whole image squeezed to `size`, or with
    `resize.crop_pct` the centre `size` crop of the image resized to shorter side
    floor(min(H, W) / crop_pct), keeping its aspect, as torchvision's and timm's
    evaluation transforms cut it (`centre_crop`).
    """
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    try:
        with warnings.catch_warnings():
            # palette images with transparency warn on conversion; the pixels are right
            warnings.simplefilter("ignore", UserWarning)
            with Image.open(path) as opened:
                img = opened.convert(_MODES[channels])
            if size is not None and resize.crop_pct is not None:
                img = centre_crop(img, size, resize.crop_pct, _FILTERS[resize.interpolation])
            elif size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), _FILTERS[resize.interpolation])
            pixels = np.array(img, dtype=np.uint8)  # a writable copy (torch.from_numpy)
    except FileNotFoundError:
        raise InputError(Code.IMAGE, path, "no such file") from None
    except UnidentifiedImageError:
        raise InputError(Code.IMAGE, path, "not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(Code.IMAGE, path, f"cannot decode the image: {err}") from None
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def image_channels(path: Path) -> int:
    """1 for a grey image, else 3, from the file's header only (no decoding)."""
    try:
        with Image.open(path) as img:
            mode = img.mode
    except FileNotFoundError:
        raise InputError(Code.IMAGE, path, "no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InputError(Code.IMAGE, path, f"not an image Pillow can read: {err}") from None
    return 1 if mode in ("1", "L", "LA", "I", "I;16", "F") else 3


def centre_crop(
    img: Image.Image,
    size: tuple[int, int],
    crop_pct: float,
    interpolation: Image.Resampling = Image.Resampling.BILINEAR,
) -> Image.Image:
    """The evaluation crop of torchvision's weights transforms and timm's
    (`Resize(floor(side / crop_pct))`, `CenterCrop(size)`): the shorter side resized to
    floor(min(size) / crop_pct) (the longer one truncated in proportion), then the
    centre `size` box, its offsets rounded as torchvision rounds them."""
    h, w = size
    short = math.floor(min(h, w) / crop_pct + 1e-9)  # 299 / (299 / 342) is 342, not 341.99
    width, height = img.size
    if width <= height:
        new = (short, int(short * height / width))
    else:
        new = (int(short * width / height), short)
    if new != img.size:
        img = img.resize(new, interpolation)
    top, left = int(round((new[1] - h) / 2.0)), int(round((new[0] - w) / 2.0))
    return img.crop((left, top, left + w, top + h))
