"""Writing files whole: readers see the old file or the new one, never half of it.

The one atomic writer of the package (compiler, backends' caches, runtime): data goes to
a temporary file beside the target, is synced, gets the mode the user's umask gives
(mkstemp's own 0600 would hide checkpoints and logs from a group), and is moved into
place with os.replace. A failure at any point, a full disk or a kill included, leaves
the previous file untouched and no temporary file behind (a kill leaves at most a
hidden `.NAME.*.tmp`, which nothing reads).

Imports nothing beyond the standard library, so the backends (their caches) and the
runtime can use it without loading the CLI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def write_atomic(path: Path, data: str | bytes | Callable[[IO[bytes]], object]) -> None:
    """Write `data` (text as UTF-8, bytes, or a function that writes to a binary
    stream) to `path` atomically."""
    with staged(path) as tmp, tmp.open("wb") as out:
        if callable(data):
            data(out)
        else:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def staged(
    path: Path, suffix: str = ".tmp", place: Callable[[Path, Path], None] | None = None
) -> Iterator[Path]:
    """A temporary file name beside `path` for writers that want a name (Keras insists
    on `.keras`, ONNX on a path): put into place by `place(tmp, path)` (os.replace) when
    the block ends without an error, removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _sync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        (place or os.replace)(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _sync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _umask() -> int:
    umask = os.umask(0)  # the only way to read it is to set it: put it straight back
    os.umask(umask)
    return umask


def create_once(path: Path, text: str) -> None:
    """`text` to `path` whole, unless `path` exists: an existing file is never replaced,
    not even by a process racing this one."""
    path = Path(path)
    if not path.exists():
        with staged(path, place=_link_unless_there) as tmp:
            tmp.write_text(text, encoding="utf-8")


def _link_unless_there(tmp: Path, path: Path) -> None:
    """`tmp` at `path` unless a file is there: a hard link to an existing name fails."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: os.replace, while still absent
        if not path.exists():
            os.replace(tmp, path)


def copy_atomic(source: Path, target: Path) -> None:
    """`source`'s bytes to `target`, atomically (best.* from last.*)."""
    with Path(source).open("rb") as src:
        write_atomic(Path(target), lambda out: shutil.copyfileobj(src, out))
