"""IDX files (MNIST's format, used by Fashion-MNIST), gzipped or plain.

Layout: a big-endian magic (0x00000803 for images, 0x00000801 for labels), one int32 per
dimension (count, then rows and cols for images), then the uint8 payload row-major.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from incept.runtime.errors import Code, InputError

_GZIP_MAGIC = b"\x1f\x8b"
_KINDS = {0x00000801: (1, "labels"), 0x00000803: (3, "images")}


def read_idx(path: Path) -> np.ndarray:
    """The array an IDX file holds: N (labels) or N x rows x cols (images), uint8."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            head = raw.read(2)
    except OSError as err:
        raise InputError(Code.DATA, path, f"cannot read: {err.strerror or err}") from None
    gzipped = head == _GZIP_MAGIC
    if not gzipped and path.suffix == ".gz":
        raise InputError(Code.DATA, path, "not a gzip file (the name ends in .gz)")
    try:
        opened: io.BufferedIOBase = gzip.GzipFile(path, "rb") if gzipped else path.open("rb")
        with opened as stream:
            return _parse(stream, path)
    except (OSError, EOFError, zlib.error) as err:
        what = "corrupt gzip data" if gzipped else "cannot read"
        raise InputError(Code.DATA, path, f"{what}: {err}") from None


def _parse(stream: io.BufferedIOBase, path: Path) -> np.ndarray:
    header = stream.read(4)
    magic = int.from_bytes(header, "big") if len(header) == 4 else -1
    if magic not in _KINDS:
        raise InputError(
            Code.DATA,
            path,
            f"not an IDX file of uint8 images or labels: magic {header.hex() or 'missing'}, "
            "expected 00000803 (images) or 00000801 (labels)",
        )
    ndim, kind = _KINDS[magic]
    dims = _read_dims(stream, path, ndim, kind)
    try:
        data = np.empty(dims, dtype=np.uint8)
    except (MemoryError, ValueError):
        raise InputError(Code.DATA, path, f"implausible {kind} dimensions {_shape(dims)}") from None
    got = _read_into(stream, data.reshape(-1).data)
    if got < data.size:
        raise InputError(
            Code.DATA, path, f"truncated: {got} of {data.size} bytes of {kind} {_shape(dims)}"
        )
    extra = len(stream.read(1 << 16))
    if extra:
        more = "" if extra < 1 << 16 else " or more"
        raise InputError(
            Code.DATA, path, f"{extra}{more} trailing bytes after the {kind} {_shape(dims)}"
        )
    return data


def _read_dims(stream: io.BufferedIOBase, path: Path, ndim: int, kind: str) -> tuple[int, ...]:
    raw = stream.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise InputError(Code.DATA, path, f"truncated header: {kind} need {ndim} dimensions")
    dims = tuple(int.from_bytes(raw[i : i + 4], "big", signed=True) for i in range(0, 4 * ndim, 4))
    if any(d <= 0 for d in dims):
        raise InputError(Code.DATA, path, f"bad dimensions {_shape(dims)} for {kind}")
    return dims


def _read_into(stream: io.BufferedIOBase, buffer: memoryview) -> int:
    """Fill `buffer` from `stream` (one copy, no temporary bytes); the count read."""
    got = 0
    while got < len(buffer):
        n = stream.readinto(buffer[got:])
        if not n:
            break
        got += n
    return got


def _shape(dims: tuple[int, ...]) -> str:
    return " x ".join(map(str, dims))
