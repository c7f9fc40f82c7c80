"""The spec language's JSON Schema: in sync with the models, valid, named by every
shipped spec's modeline, accepting every shipped spec and rejecting the invalid-spec
corpus's type, value, unknown-key and missing-key errors where JSON Schema can say them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from incept.compiler.cli import main
from incept.compiler.views.schema import COMMITTED, schema_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
CORPUS = ROOT / "tests" / "data" / "invalid"
MODELINE = "# yaml-language-server: $schema=incept.schema.json\n"
#: Corpus errors of these codes are schema-shaped: the schema must reject them ...
SCHEMA_CODES = ("type", "value", "unknown-key", "missing-key")
#: ... except these, which need more than JSON Schema: a split's `layout: flat` is a
#: cross-field rule, and Python keywords (`class`) are valid identifier strings.
NOT_IN_SCHEMA = {"value-split-outside-flat.yaml", "value-template-name-keyword.yaml"}


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / COMMITTED).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_bytes())


def test_committed_schema_is_in_sync():
    assert (ROOT / COMMITTED).read_text() == schema_text(), "stale: run make regen"


def test_incept_schema_prints_it():
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_text()


def test_schema_check_flags_a_stale_copy(tmp_path):
    stale = tmp_path / "s.json"
    stale.write_text("{}\n")
    result = CliRunner().invoke(main, ["schema", "-o", str(stale), "--check"])
    assert result.exit_code == 1
    assert result.stderr == f"{stale}: stale: `incept schema -o {stale}` would change it\n"


def test_an_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "incept.schema.json"  # a file where a folder should be
    result = CliRunner().invoke(main, ["schema", "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"{target}: error[io]: cannot write: ")
    assert result.output.count("\n") == 1
    assert blocker.read_text() == ""


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_names_and_matches_the_schema(spec, validator):
    assert spec.read_text().startswith(MODELINE)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(load(spec))]
    assert errors == []


def corpus(codes: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        code = path.read_bytes().split()[2].decode()  # "# expect: <code> ..."
        if code in codes:
            out.append(path.name)
    return out


@pytest.mark.parametrize("name", sorted(set(corpus(SCHEMA_CODES)) - NOT_IN_SCHEMA))
def test_schema_rejects_corpus_error(name, validator):
    assert not validator.is_valid(load(CORPUS / name))


@pytest.mark.parametrize("name", sorted(NOT_IN_SCHEMA))
def test_rules_beyond_json_schema_are_left_to_incept_check(name, validator):
    assert validator.is_valid(load(CORPUS / name))  # the compiler rejects it (corpus test)


def test_rejected_cases_cover_each_schema_code():
    names = set(corpus(SCHEMA_CODES)) - NOT_IN_SCHEMA
    assert len(names) >= 40
    assert {(CORPUS / n).read_bytes().split()[2].decode() for n in names} == set(SCHEMA_CODES)


def test_extends_specs_may_omit_what_their_base_gives(validator):
    assert validator.is_valid({"extends": "googlenet.yaml", "name": "x"})
    assert not validator.is_valid({"name": "x"})  # no base: input, layers ... required
    assert not validator.is_valid({"extends": "g.yaml", "patch": [{"row": "a", "drop": True}]})
    assert not validator.is_valid({"extends": "g.yaml", "input": {"channels": 1.5}})
