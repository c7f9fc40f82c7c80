"""CIFAR-10's python batches, unpickled with an allow-list (no arbitrary globals).

DIR holds data_batch_1..5 and test_batch (dicts: b"data" N x 3072 uint8, channel-major
3 x 32 x 32, and b"labels") and batches.meta (b"label_names"). A pickle can run any
callable it names, so only numpy array reconstruction is resolved; anything else in
the file is refused.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from incept.runtime.data import ArraySplit
from incept.runtime.errors import Code, InputError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
SIDE = 32


def _latin1(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refused codec {encoding!r}")
    return codecs.encode(text, "latin1")


# The functions numpy's pickles name (numpy 1 wrote numpy.core, numpy 2 numpy._core).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}") from None


def _unpickle(path: Path) -> dict[str, Any]:
    """The file's dict with str keys (the batches were written by Python 2: bytes keys)."""
    try:
        with path.open("rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise InputError(
            Code.DATA, path, f"missing: a CIFAR-10 folder holds {_listing()}"
        ) from None
    except OSError as err:
        raise InputError(Code.DATA, path, f"cannot read: {err.strerror or err}") from None
    except Exception as err:  # a corrupt pickle raises nearly anything
        raise InputError(Code.DATA, path, f"not a CIFAR-10 python batch: {err}") from None
    if not isinstance(obj, dict):
        raise InputError(Code.DATA, path, f"not a CIFAR-10 python batch: a {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _listing() -> str:
    return ", ".join((*TRAIN_FILES, TEST_FILE, META_FILE))


def read_meta(folder: Path) -> tuple[str, ...]:
    """The class names from batches.meta."""
    path = folder / META_FILE
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list) or not names:
        raise InputError(Code.DATA, path, "no label_names list")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def read_batches(folder: Path, names: tuple[str, ...]) -> ArraySplit:
    """The batches `names` of `folder`, concatenated: N x 32 x 32 x 3 uint8 images."""
    parts = [_read_batch(folder / name) for name in names]
    images = np.concatenate([p.images for p in parts]) if len(parts) > 1 else parts[0].images
    labels = np.concatenate([p.labels for p in parts]) if len(parts) > 1 else parts[0].labels
    return ArraySplit(images, labels)


def _read_batch(path: Path) -> ArraySplit:
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise InputError(Code.DATA, path, "b'data' is not an N x 3072 uint8 array")
    if data.shape[1] != 3 * SIDE * SIDE:
        raise InputError(Code.DATA, path, f"b'data' rows hold {data.shape[1]} bytes, not 3072")
    try:
        label_array = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(Code.DATA, path, "b'labels' is not a list of integers") from None
    if label_array.shape != (len(data),):
        raise InputError(
            Code.DATA, path, f"{len(data)} images but {label_array.size} labels in b'labels'"
        )
    # channel-major rows (R plane, G plane, B plane) -> H x W x C
    images = np.ascontiguousarray(data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))
    return ArraySplit(images, label_array)
