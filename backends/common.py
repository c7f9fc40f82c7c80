"""What every backend shares: the template environment, ruff, headers, names."""

from __future__ import annotations

import contextlib
import hashlib
import keyword
import os
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket

from incept.compiler import stamp
from incept.compiler.files import write_atomic
from incept.compiler.ir.graph import Graph
from incept.compiler.spec import paths

#: How templates are compiled; also part of the cache's folder name (see _TemplateCache).
_SYNTAX = {
    "undefined": StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
    "autoescape": False,
}


class _TemplateCache(FileSystemBytecodeCache):
    """Compiled templates kept between runs: compiling module.py.jinja costs a `compile`
    about 20 ms, loading its code a fraction of one. jinja2 keys each entry by the
    template's path and checks the template's checksum and the Python version; the
    folder is named after jinja2's version and the compile settings, so an edited
    template, another interpreter, jinja2 or setting compiles afresh. A cache that
    cannot be read or written is skipped, never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            Path(self.directory).mkdir(mode=0o700, parents=True, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/incept, where $XDG_CACHE_HOME defaults to ~/.cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "incept"


def template_cache_dir() -> Path:
    """cache_dir()/templates/<jinja2 version and settings>."""
    settings = f"{jinja2.__version__} {sorted(_SYNTAX.items(), key=str)!r}"
    key = hashlib.sha256(settings.encode()).hexdigest()[:16]
    return cache_dir() / "templates" / f"jinja2-{jinja2.__version__}-{key}"


def environment(package: str) -> Environment:
    """A jinja2 environment that fails on any undefined name instead of printing ''."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        bytecode_cache=_TemplateCache(str(template_cache_dir())),
        **_SYNTAX,  # type: ignore[arg-type]
    )
    env.globals["checksum_line"] = stamp.LINE
    return env


#: ruff's arguments: isolated from any project config so output never depends on cwd.
_RUFF_ARGS = ("format", "--isolated", "--line-length", "100", "-")


def format_python(source: str) -> str:
    """Format with ruff. ruff's output depends only on its input, version and arguments,
    so it is kept under cache_dir()/ruff, keyed by all three (the version by the binary's
    path, size and modification time): compiling an unchanged spec again skips starting
    ruff. A cache that cannot be read or written is skipped, never an error."""
    from ruff import find_ruff_bin  # only here: it loads sysconfig

    ruff = find_ruff_bin()
    try:
        binary = os.stat(ruff)
    except OSError:
        binary = None
    cached = None
    if binary is not None:
        key = f"{ruff}\0{binary.st_size}\0{binary.st_mtime_ns}\0{_RUFF_ARGS}\0{source}"
        cached = cache_dir() / "ruff" / f"{hashlib.sha256(key.encode()).hexdigest()}.py"
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return cached.read_bytes().decode("utf-8")
    import subprocess  # only here: a cached result needs no process

    result = subprocess.run(
        [ruff, *_RUFF_ARGS], input=source, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        # The template produced invalid Python: a backend bug (the CLI reports it as internal).
        detail = " ".join(result.stderr.split())[:200]
        raise RuntimeError(f"ruff could not format generated code: {detail}")
    if cached is not None:
        _store(cached, result.stdout)
    return result.stdout


def _store(path: Path, text: str) -> None:
    """Write a cache entry whole or not at all, quietly (a cache is never an error)."""
    with contextlib.suppress(OSError):
        write_atomic(path, text)


def finish(source: str) -> str:
    """Rendered template -> the file: formatted by ruff, then stamped with its own hash."""
    return stamp.stamp(format_python(source))


def py_text(text: str) -> str:
    """Free text as the inside of a "..." or \"\"\"...\"\"\" literal: the one way text from a
    spec (a description, a template's doc, the spec's path) reaches generated code.

    Backslashes and double quotes are escaped and every non-printable character becomes
    its escape (\\n, \\x00, \\u202e), so the text can neither end the literal nor start a
    line of code, and at run time the string holds the text unchanged.
    """
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def spec_label(graph: Graph) -> str:
    """The spec path for headers, escaped for a literal: relative to the spec's project
    root and with forward slashes, so output does not depend on cwd or machine."""
    return py_text(paths.spec_label(graph.spec_path))


def optimized(graph: Graph, options: Collection[str] = ()) -> tuple[str, ...]:
    """The optimization passes applied, then the backend options asked for (`--opt`)."""
    return (*graph.optimized, *options)


def opt_flag(graph: Graph, options: Collection[str] = ()) -> str:
    """` --opt a,b` for a header's compile command: the optimizations applied, or ""."""
    names = optimized(graph, options)
    return f" --opt {','.join(names)}" if names else ""


def pair_literal(pair: tuple[int, int]) -> str:
    """A kernel/stride/padding argument: `3` when square, `(1, 7)` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def float_literal(value: float) -> str:
    return repr(float(value))


class Namespace:
    """Hands out legal, unique Python identifiers that avoid reserved names."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.taken = set(reserved)

    def __call__(self, want: str, prefix: str = "layer_") -> str:
        # Python compares identifiers NFKC-normalised: hand out (and compare) that form.
        want = unicodedata.normalize("NFKC", want)
        name = want if want.isidentifier() else prefix + want
        if not name.isidentifier() or keyword.iskeyword(name):
            name = prefix + "".join(ch if ch.isalnum() else "_" for ch in want)
        base, n = name, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def snake_case(name: str) -> str:
    """`AuxLogits` -> `aux_logits`: local variables read as Python's, whatever the spec's case."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
