"""Specs by name: the ones shipped with incept and the user's own (INCEPT_PATH).

A model's name is its spec file's name without `.yaml` (`googlenet-fmnist-lite`). Names
are looked up in the folders of the `INCEPT_PATH` environment variable (separated by
`os.pathsep`, searched in order) and then in the shipped specs; the first folder holding
NAME.yaml wins, so a user's spec may shadow a shipped one. A spec argument is read as a
name only when it is not an existing file and looks like no path: no folder separator,
no `.yaml`/`.yml` suffix. Underscores stand for hyphens where no file has the name as
written: `inception_v4` (the spec's `name:`, its generated module's and timm's model
name) reaches inception-v4.yaml. Paths keep their meaning (and `extends:` paths their
confinement, inherit.py); a name reaches only the folders of this search path.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from pathlib import Path

from ..errors import Code, Loc, SpecError

#: The environment variable naming the user's spec folders.
ENV = "INCEPT_PATH"
SUFFIX = ".yaml"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def shipped_folder() -> Path:
    """The shipped specs: <root>/specs beside <root>/compiler, i.e. the repository's
    specs/ in a checkout and incept/specs in an installed wheel (pyproject.toml maps
    `incept.specs` to specs/ and ships its YAML as package data)."""
    return Path(__file__).resolve().parents[2] / "specs"


def search_path() -> list[Path]:
    """INCEPT_PATH's folders in order, then the shipped specs."""
    user = [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    return [*user, shipped_folder()]


def is_name(text: str) -> bool:
    """Whether a spec argument reads as a model name rather than a file path."""
    return bool(_NAME.fullmatch(text)) and not text.lower().endswith((".yaml", ".yml"))


def models(pattern: str | None = None) -> dict[str, Path]:
    """Every name on the search path and the file it means (the first folder wins), by
    name. `pattern` filters them: a glob (`*fmnist*`), or without wildcards a substring;
    its underscores also match hyphens."""
    found: dict[str, Path] = {}
    for folder in search_path():
        try:
            files = sorted(folder.glob(f"*{SUFFIX}"))
        except OSError:  # an unreadable folder on INCEPT_PATH names nothing
            continue
        for file in files:
            if is_name(file.stem) and file.is_file():
                found.setdefault(file.stem, file)
    if pattern is not None:
        glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        globs = {glob, glob.replace("_", "-")}  # as find(): inception_v4 is inception-v4
        found = {k: v for k, v in found.items() if any(fnmatch.fnmatchcase(k, g) for g in globs)}
    return dict(sorted(found.items()))


def find(name: str) -> Path | None:
    """The file NAME means on the search path, or None: NAME.yaml in the first folder
    holding it, else (NAME with `_` as `-`).yaml likewise."""
    if not is_name(name):
        return None
    for spelling in dict.fromkeys((name, name.replace("_", "-"))):
        for folder in search_path():
            path = folder / f"{spelling}{SUFFIX}"
            if path.is_file():
                return path
    return None


def unknown(name: str) -> str:
    """`no model named 'googlenett' in ... (closest: googlenet, ...)`: the words for a
    miss, with up to three names: the most similar (difflib), then those containing it."""
    names = list(models())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [n for n in names if name and name in n and n not in close][: 3 - len(close)]
    hint = f"closest: {', '.join(close)}" if close else "`incept list` shows them all"
    return f"no model named {name!r} in {ENV} or the shipped specs ({hint})"


def locate(spec: str | Path) -> str | Path:
    """The file a spec argument means: the argument itself when it is a file or reads
    as a path (read_source reports a missing one), else the named model's file."""
    text = str(spec)
    if not is_name(text) or os.path.exists(text):
        return spec
    path = find(text)
    if path is None:
        raise SpecError(Code.IO, f"not a file, and {unknown(text)}", Loc(text, 1, 1))
    return str(path)
