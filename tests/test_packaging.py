"""What a user gets from the sdist and the docs: every file the code and docs cite
exists; the sdist holds specs, docs, tests and the rest its tests need, and a quick
subset of those tests passes from the unpacked sdist (the whole suite: make test-sdist)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT

#: A docs/ path in text (a `*` in it is a glob); a path written after -o is an output a
#: command would create.
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[A-Za-z0-9_./*-]*[A-Za-z0-9_*]")
OUTPUT_FLAG = re.compile(r"(?:-o|--output|--json)\s+$")
#: Where docs/ paths are cited: the code, the Makefile, README and docs/ (the CHANGELOG
#: is history: it names files as they were then).
CITING = ("compiler", "backends", "bench", "tests", "docs", "Makefile", "README.md")


def _cited() -> set[tuple[str, str]]:
    found = set()
    for top in CITING:
        path = ROOT / top
        files = [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.md")]
        for file in files:
            text = file.read_text(encoding="utf-8", errors="replace")
            for match in DOCS_PATH.finditer(text):
                if not OUTPUT_FLAG.search(text[max(0, match.start() - 12) : match.start()]):
                    found.add((str(file.relative_to(ROOT)), match.group().rstrip(".")))
    return found


def _exists(path: str) -> bool:
    return any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()


def test_every_cited_docs_path_exists():
    cited = _cited()
    assert len(cited) > 30  # the pattern finds what it should
    missing = sorted(f"{where}: {path}" for where, path in cited if not _exists(path))
    assert not missing, missing


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_version_and_license_are_declared():
    """What lands is released: the CHANGELOG's sections are dated versions, newest first,
    the newest the version pyproject declares; no "Unreleased" pile."""
    declared = re.search(
        r'^version = "(\d+\.\d+\.\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M
    )
    assert declared
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 incept")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.*)$", changelog, re.M)
    dated = [re.fullmatch(r"(\d+\.\d+\.\d+) — \d{4}-\d\d-\d\d", h) for h in headings]
    assert all(dated), headings
    versions = [_version(m[1]) for m in dated if m]
    assert versions[0] == _version(declared[1]) and versions[-1] == (0, 1, 0)
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)


def _hook(hook: str, source: Path, out: Path) -> Path:
    """Run a setuptools build hook in `source` (PEP 517, without build isolation)."""
    code = f"from setuptools import build_meta as b; print(b.{hook}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=True
    )
    assert "would be ignored" not in done.stderr + done.stdout  # package data declared
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("runs from the source checkout (this is an unpacked sdist)")
    out = tmp_path_factory.mktemp("sdist")
    archive = _hook("build_sdist", ROOT, out)
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out / archive.name.removesuffix(".tar.gz")


def test_sdist_holds_specs_docs_tests_and_what_they_need(sdist):
    tracked = subprocess.run(
        ["git", "ls-files", "specs", "docs", "tests", "generated", "bench", ".ci"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = [path for path in tracked if not (sdist / path).is_file()]
    assert not missing, missing
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "Makefile", "pyproject.toml"):
        assert (sdist / name).is_file(), name


def test_a_quick_subset_of_the_tests_passes_from_the_sdist(sdist, tmp_path):
    wheel = _hook("build_wheel", sdist, tmp_path)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    quick = ["tests/test_messages.py", "tests/test_golden.py", "tests/test_cli.py::test_version"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *quick],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout) and " failed" not in done.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import incept.compiler.cli as c; print(c.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert imported.startswith(str(site))  # the tests ran against the sdist's code
