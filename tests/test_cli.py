"""The `incept` command: version, check, table (json and human), compile."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner
from conftest import GOOGLENET, ROOT, SPECS

from incept.compiler import __version__, cli, report
from incept.compiler.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def backend_available() -> bool:
    try:
        from incept.backends import get_backend  # noqa: F401
    except ImportError:
        return False
    return True


needs_backend = pytest.mark.skipif(
    not backend_available(), reason="incept.backends.get_backend is not importable yet"
)


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"incept, version {__version__}\n"


def test_python_dash_m_incept_is_the_command():
    proc = subprocess.run(
        [sys.executable, "-m", "incept", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        f"incept, version {__version__}\n",
        "",
    )


@pytest.mark.parametrize(
    "words", ["compile incep", "train incep", "bench incep", "diff googlenet incep"]
)
def test_shell_completion_offers_model_names_and_files(words, monkeypatch):
    """click's bash completion: SPEC completes to the model names (`incept list`)
    starting with what is typed, then to the shell's file names."""
    monkeypatch.delenv("INCEPT_PATH", raising=False)
    monkeypatch.setenv("COMP_WORDS", f"incept {words}")
    monkeypatch.setenv("COMP_CWORD", str(len(words.split())))
    result = CliRunner().invoke(
        main, [], prog_name="incept", env={"_INCEPT_COMPLETE": "bash_complete"}
    )
    assert result.exit_code == 0
    names = sorted(p.stem for p in SPECS.glob("incep*.yaml"))
    assert result.stdout.splitlines() == [*(f"plain,{n}" for n in names), "file,incep"]


def test_check(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("check", "specs/googlenet.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "googlenet: ok, 6,998,552 params (13,378,280 with aux heads), 1.58 GMACs\n"
    )


# -- table --format json ----------------------------------------------------------------


@pytest.fixture(scope="module")
def table_json():
    old = os.getcwd()
    os.chdir(ROOT)  # so the spec path is shown as typed, relative
    try:
        result = run("table", "specs/googlenet.yaml", "--format", "json")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_header(table_json):
    assert table_json["spec"] == "specs/googlenet.yaml"
    assert table_json["sha256"] == hashlib.sha256(GOOGLENET.read_bytes()).hexdigest()
    assert table_json["total"] == {
        "params": 6_998_552,
        "macs": 1_582_671_872,
        "params_with_aux": 13_378_280,
        "macs_with_aux": 1_591_044_096,
    }


def test_json_rows(table_json):
    rows = {r["name"]: r for r in table_json["rows"]}
    r3a = rows["inception_3a"]
    assert r3a["out_shape"] == [256, 28, 28]
    assert r3a["params"] == 163_696
    assert r3a["macs"] == 128_049_152
    assert r3a["paper_params"] == 159 * 1024  # Table 1 prints "159K", K = 1024
    assert r3a["paper_ops"] == 128_000_000
    assert [r3a[c] for c in report.COLUMNS] == [64, 96, 128, 16, 32, 32]
    assert (r3a["type"], r3a["patch_stride"], r3a["depth"], r3a["aux"]) == (
        "inception",
        "",
        2,
        False,
    )
    assert r3a["flags"] == []
    # conv1: Table 1 prints 2.7K params and 34M ops; 7*7*3*64 + 64 = 9,472 and 118M
    conv1 = rows["conv1"]
    assert (conv1["params"], conv1["macs"]) == (9_472, 118_013_952)
    assert conv1["flags"] == ["params", "ops"]
    assert (conv1["type"], conv1["patch_stride"], conv1["depth"]) == ("conv", "7x7/2", 1)
    assert conv1["ch1x1"] is None
    # conv2 is a block whose parameters are Table 1's "#3x3 reduce" and "#3x3" columns
    assert (rows["conv2"]["ch3x3red"], rows["conv2"]["ch3x3"], rows["conv2"]["ch1x1"]) == (
        64,
        192,
        None,
    )
    assert (rows["pool1"]["type"], rows["pool1"]["patch_stride"]) == ("max pool", "3x3/2")
    assert (rows["pool5"]["type"], rows["pool5"]["patch_stride"]) == ("avg pool", "7x7/1")
    assert rows["pool1"]["depth"] == 0 and rows["pool1"]["paper_params"] is None
    assert rows["fc"]["out_shape"] == [1000]


def test_json_rows_sum_to_totals(table_json):
    rows, total = table_json["rows"], table_json["total"]
    main_rows = [r for r in rows if not r["aux"]]
    assert sum(r["params"] for r in main_rows) == total["params"]
    assert sum(r["macs"] for r in main_rows) == total["macs"]
    assert sum(r["params"] for r in rows) == total["params_with_aux"]
    assert sum(r["macs"] for r in rows) == total["macs_with_aux"]
    aux = [r for r in rows if r["aux"]]
    assert [(r["name"], r["tap"], r["depth"]) for r in aux] == [
        ("aux1", "inception_4a", 3),
        ("aux2", "inception_4d", 3),
    ]


# -- table (human) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_text():
    result = run("table", str(GOOGLENET))
    assert result.exit_code == 0, result.output
    return result.stdout


def _line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name + " "))


def test_human_flags_rows_that_disagree_with_the_paper(table_text):
    conv1 = _line(table_text, "conv1")
    assert "9,472!" in conv1 and "118,013,952!" in conv1
    assert "2,765" in conv1 and "34,000,000" in conv1  # the paper's 2.7K and 34M
    r3a = _line(table_text, "inception_3a")
    assert "!" not in r3a  # 163,696 vs 159K and 128.05M vs 128M: within 2%
    assert "28x28x256" in r3a and "163,696" in r3a and "128,049,152" in r3a
    assert "differs from the paper's printed value by more than 2%: conv1," in table_text


def test_human_layout(table_text):
    header = table_text.splitlines()[1]
    for column in ("name", "type", "patch/stride", "output size", "depth", "#1x1",
                   "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj", "params",
                   "ops (MACs)", "paper params", "paper ops"):  # fmt: skip
        assert column in header
    assert "7x7/2" in _line(table_text, "conv1")
    assert "1000" in _line(table_text, "fc")
    assert "aux1 (on inception_4a)" in table_text
    assert "total without aux heads: 6,998,552 params" in table_text
    assert "total with aux heads:    13,378,280 params" in table_text
    note = " ".join(table_text.split())
    assert "Not counted: biases, batch norm, LRN, pooling, ReLU, softmax" in note
    assert "excluded from the main total" in note


def test_human_is_plain_and_unwrapped_off_a_terminal(table_text):
    lines = table_text.splitlines()
    assert all(len(line) <= report.FILE_WIDTH for line in lines)
    assert all(line == line.rstrip() for line in lines)  # no padding to the width
    assert "\x1b[" not in table_text  # no colour codes in files and pipes
    rows = [line for line in lines if line.startswith(("conv", "pool", "inception", "aux"))]
    assert len(rows) == 2 + 5 + 9 + 2  # one line per row: nothing wrapped


def test_human_is_deterministic(table_text):
    assert run("table", str(GOOGLENET)).stdout == table_text


# -- compile ----------------------------------------------------------------------------


def test_compile_unknown_backend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("compile", str(GOOGLENET), "--backend", "caffe")
    assert result.exit_code == 2
    assert "Invalid value for '--backend'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_default_output_path():
    from incept.compiler.pipeline import build_graph

    graph = build_graph(SPECS / "googlenet-torchvision.yaml")
    path = cli.default_output(graph, "torch")
    assert path.as_posix() == "generated/googlenet_torchvision_torch.py"


@needs_backend
def test_compile_default_path(tmp_path, monkeypatch):
    from incept.backends import get_backend
    from incept.compiler.pipeline import build_graph

    monkeypatch.chdir(tmp_path)
    spec = SPECS / "googlenet-torchvision.yaml"
    result = run("compile", str(spec), "--backend", "torch")
    assert result.exit_code == 0, result.output
    out = tmp_path / "generated" / "googlenet_torchvision_torch.py"
    text = out.read_text()
    assert text == get_backend("torch").render(build_graph(spec))
    lines = len(text.splitlines())
    assert f"wrote generated/googlenet_torchvision_torch.py ({lines} lines)" in result.output
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


@needs_backend
def test_compile_output_option_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text("old\n")
    result = run("compile", str(GOOGLENET), "-b", "torch", "-o", "model.py")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.py").read_text().startswith(("#", '"""'))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_write_atomic_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "model.py"
    target.write_text("old\n")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        cli.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


def test_write_atomic_creates_parents_with_normal_mode(tmp_path):
    target = tmp_path / "a" / "b" / "model.py"
    cli.write_atomic(target, "x = 1\n")
    assert target.read_text() == "x = 1\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# -- no heavy imports -------------------------------------------------------------------


def test_commands_never_import_frameworks(tmp_path):
    """check, table and compile run in a fresh interpreter without loading torch,
    tensorflow or keras: generating source needs neither."""
    commands = [
        ["check", str(GOOGLENET)],
        ["table", str(GOOGLENET)],
        ["table", str(GOOGLENET), "--format", "json"],
    ]
    if backend_available():
        commands.append(["compile", str(GOOGLENET), "-b", "torch", "-o", str(tmp_path / "g.py")])
    code = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        from incept.compiler.cli import main
        for args in {commands!r}:
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, (args, result.output)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras"))
        assert not heavy, heavy
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lazy_commands_load_by_name_and_compile_skips_them(tmp_path):
    """Every lazily registered command is the command of that name; compiling imports
    none of their modules (they cost start-up time and compile needs none of them)."""
    for name in cli.LAZY_COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command is not None and command.name == name
    assert set(main.list_commands(click.Context(main))) == {
        "check",
        "table",
        "diff",
        "compile",
        *cli.LAZY_COMMANDS,
    }
    typo = run("trian")
    assert typo.exit_code == 2
    assert "No such command 'trian'. Did you mean 'train'?" in typo.output
    modules = sorted({path.split(":")[0] for path in cli.LAZY_COMMANDS.values()})
    code = textwrap.dedent(
        f"""
        import sys
        from incept.compiler.cli import main
        sys.argv = ["incept", "compile", {str(GOOGLENET)!r}, "-b", "torch", "-o", {str(tmp_path / "g.py")!r}]
        try:
            main()
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        loaded = sorted(m for m in {modules!r} if m in sys.modules)
        assert not loaded, loaded
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("setting", [None, "__all__", "some_plugin"])
def test_pydantic_plugin_loader_is_skipped_only_when_plugins_are_off(setting):
    """With plugins off (incept's default) a compile never imports importlib.metadata
    (pydantic's loader would, just to find no plugins); a user who names plugins to
    skip gets pydantic's own loader."""
    code = textwrap.dedent(
        f"""
        import sys
        from incept.compiler.cli import main
        sys.argv = ["incept", "check", {str(GOOGLENET)!r}]
        try:
            main()
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        loader = sys.modules["pydantic.plugin._loader"]
        print(getattr(loader, "__file__", None) is None, "importlib.metadata" in sys.modules)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    off = setting != "some_plugin"
    assert proc.stdout.split()[-2:] == [str(off), str(not off)]


@needs_backend
def test_compile_caches_give_the_same_bytes_and_never_fail(tmp_path):
    """Compiled templates and ruff's output are cached under $XDG_CACHE_HOME/incept: a
    run that writes the caches, one that reads them (and so never starts ruff), and one
    whose caches cannot be written (the cache home is a file) all write the committed
    output."""
    (tmp_path / "not-a-folder").write_text("")
    want = (ROOT / "generated" / "googlenet_torch.py").read_text()
    out = tmp_path / "g.py"
    code = textwrap.dedent(
        f"""
        import sys
        from incept.compiler.cli import main
        sys.argv = ["incept", "compile", {str(GOOGLENET)!r}, "-b", "torch", "-o", {str(out)!r}]
        try:
            main()
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        print("subprocess" in sys.modules)
        """
    )
    started_ruff = []
    for home in ("cache", "cache", "not-a-folder"):
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / home)}
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        started_ruff.append(proc.stdout.split()[-1])
        assert out.read_text() == want
        out.unlink()
    assert started_ruff == ["True", "False", "True"]
    (folder,) = (tmp_path / "cache" / "incept" / "templates").iterdir()
    assert len(list(folder.iterdir())) == 1
    assert len(list((tmp_path / "cache" / "incept" / "ruff").iterdir())) == 1


# -- compile --check / --force: stale and hand-edited outputs ----------------------------


TINY = """\
name: tiny
input: {channels: 3, size: 8}
num_classes: 10
layers:
  - {name: c, op: conv, out: 8, kernel: 3}
  - {op: flatten}
  - {op: linear, out: $num_classes}
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """tiny.yaml compiled to out.py in the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    assert run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py").exit_code == 0
    return tmp_path / "out.py"


@needs_backend
def test_check_current_output_passes_silently(tiny):
    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py", "--check")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


@needs_backend
def test_check_stale_missing_and_edited(tiny):
    before = tiny.read_text()
    tiny.with_name("tiny.yaml").write_text(TINY.replace("out: 8", "out: 9"))
    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py", "--check")
    assert result.exit_code == 1
    assert result.stderr == "out.py: stale: regenerating it from tiny.yaml would change it\n"
    assert tiny.read_text() == before  # --check writes nothing

    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "nope.py", "--check")
    assert (result.exit_code, result.stderr) == (
        1,
        "nope.py: missing: compiling tiny.yaml would create it\n",
    )
    assert not tiny.with_name("nope.py").exists()

    tiny.write_text(before.replace("nn.Flatten()", "nn.Identity()"))
    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py", "--check")
    assert result.exit_code == 1
    assert result.stderr == (
        "out.py: stale: edited by hand (its checksum does not match); "
        "regenerating it from tiny.yaml would change it\n"
    )


@needs_backend
def test_edited_output_needs_force(tiny):
    edited = tiny.read_text().replace("nn.Flatten()", "nn.Identity()")
    tiny.write_text(edited)
    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py")
    assert result.exit_code == 1
    assert result.stderr == (
        "incept: out.py was edited by hand (its checksum does not match); "
        "not overwritten (--force overwrites it)\n"
    )
    assert tiny.read_text() == edited
    result = run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py", "--force")
    assert result.exit_code == 0, result.output
    assert "nn.Flatten()" in tiny.read_text()
    assert run("compile", "tiny.yaml", "-b", "torch", "-o", "out.py", "--check").exit_code == 0


@needs_backend
def test_checksum_covers_the_whole_file(tiny):
    from incept.compiler import stamp

    text = tiny.read_text()
    assert not stamp.edited(text)
    assert stamp.edited(text + "\n")
    assert stamp.edited(text.replace("tiny.yaml", "tin.yaml", 1))  # the header counts too
    assert not stamp.edited("x = 1\n")  # not incept's output: nothing to protect


@needs_backend
def test_output_is_the_same_from_any_cwd_and_hash_seed(tmp_path):
    """Bytes depend on the spec alone: not on the working directory, how the path is
    spelled, or PYTHONHASHSEED."""
    (tmp_path / "sub").mkdir()
    spec = ROOT / "specs" / "googlenet.yaml"
    outputs = set()
    for seed, cwd, path in (
        ("0", ROOT, "specs/googlenet.yaml"),
        ("1", tmp_path / "sub", str(spec)),
        ("2", ROOT / "generated", "../specs/googlenet.yaml"),
    ):
        out = tmp_path / f"out{seed}.py"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        main = "from incept.compiler.cli import main; main()"
        cmd = [sys.executable, "-c", main, "compile", path, "-b", "keras"]
        subprocess.run([*cmd, "-o", str(out)], cwd=cwd, env=env, check=True, capture_output=True)
        outputs.add(out.read_text())
    assert outputs == {(ROOT / "generated" / "googlenet_keras.py").read_text()}


# -- --opt in table, diff and diagram ----------------------------------------------------


def test_table_opt_shows_the_optimized_graph(monkeypatch):
    """fold_bn folds googlenet-bn's 57 norms into biases: the table counts what the
    optimized module holds, as `incept check --opt` does, and says which passes ran."""
    monkeypatch.chdir(ROOT)
    spec = "specs/googlenet-bn.yaml"
    plain = json.loads(run("table", spec, "--format", "json").stdout)
    result = run("table", spec, "--format", "json", "--opt", "fold_bn")
    assert result.exit_code == 0, result.output
    folded = json.loads(result.stdout)
    assert (plain["optimized"], folded["optimized"]) == ([], ["fold_bn"])
    assert plain["total"]["params"] == 7_005_832 and folded["total"]["params"] == 6_998_552
    assert folded["total"]["macs"] == plain["total"]["macs"]
    checked = run("check", spec, "--opt", "fold_bn").stdout
    assert checked.startswith("googlenet_bn: ok, 6,998,552 params"), checked
    text = run("table", spec, "--opt", "fold_bn").stdout
    assert "total without aux heads: 6,998,552 params" in text


def test_diff_opt_applies_to_both_specs(monkeypatch):
    monkeypatch.chdir(ROOT)
    specs = ("specs/googlenet.yaml", "specs/googlenet-bn.yaml")
    plain = json.loads(run("diff", *specs, "--format", "json").stdout)
    result = run("diff", *specs, "--format", "json", "--opt", "fold_bn")
    assert result.exit_code == 0, result.output
    folded = json.loads(result.stdout)
    assert plain["total_b"]["params"] == 7_005_832 and folded["total_b"]["params"] == 6_998_552
    assert folded["total_a"] == plain["total_a"]  # googlenet has no norms to fold


@pytest.mark.parametrize("command", ["table", "diff", "diagram"])
def test_views_refuse_an_unknown_pass_in_one_line(command):
    args = [command, str(GOOGLENET)] + [str(GOOGLENET)] * (command == "diff")
    args += ["-o", "-"] * (command == "diagram")
    result = run(*args, "--opt", "fold")
    assert result.exit_code == 2
    assert "Invalid value for '--opt': unknown optimization 'fold'" in result.output


def test_diff_titles_name_specs_within_their_project(tmp_path, monkeypatch):
    """Specs named from the catalog, run elsewhere: the title holds no absolute path;
    with --opt it says which passes ran on both."""
    monkeypatch.chdir(tmp_path)
    plain = run("diff", "googlenet", "googlenet-bn")
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.splitlines()[0] == "specs/googlenet.yaml (A) vs specs/googlenet-bn.yaml (B)"
    assert str(ROOT) not in plain.stdout and str(tmp_path) not in plain.stdout
    folded = run("diff", "googlenet", "googlenet-bn", "--opt", "fold_bn").stdout.splitlines()[0]
    assert folded.endswith("(B), optimized (fold_bn)")
    table = run("table", "googlenet-bn", "--opt", "fold_bn").stdout.splitlines()[0]
    assert table == "googlenet_bn (specs/googlenet-bn.yaml, optimized (fold_bn))"
