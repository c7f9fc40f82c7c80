# incept developer tasks. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := .ci/constraints.txt
SPECS := $(wildcard specs/*.yaml)
BACKENDS := torch keras
SCHEMA := specs/incept.schema.json

.PHONY: run test test-thorough test-sdist dot install install-core lint format typecheck regen check-generated bench gpu-carry clean

# uv installs what pip would (PyPI, the same constraints), in parallel: the dev install's
# 7.5 GB (torch with its CUDA libraries, tensorflow, jax) took 42 s on a fresh 2-core
# machine where pip took 88 s (2026-12-06). --compile-bytecode as pip does: where
# PYTHONDONTWRITEBYTECODE is set (this machine, CI), nothing else would write the .pyc
# files, and every test subprocess would compile TensorFlow again (`import tensorflow`
# 16.9 s instead of 9.1 s). The venv keeps pip for users and the sdist test.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(BIN)/uv: | $(BIN)/python
	$(PIP) install -q -c $(CONSTRAINTS) uv

INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c $(CONSTRAINTS)

# The core install (compile/check/table) needs neither torch nor tensorflow.
$(VENV)/.core: pyproject.toml | $(BIN)/uv
	$(INSTALL) -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/uv
	$(INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.core

install-core: $(VENV)/.core
install: $(VENV)/.dev

# The main job: compile the shipped GoogLeNet spec to PyTorch and print its Table-1 report.
run: $(VENV)/.core
	$(BIN)/incept compile specs/googlenet.yaml --backend torch
	$(BIN)/incept table specs/googlenet.yaml

# Rendering tests need Graphviz's `dot` (Debian package graphviz); CI installs it here.
dot:
	@command -v dot >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; } || \
		echo "make: no Graphviz dot (apt-get install graphviz); rendering tests will be skipped" >&2

# One worker per core (pytest-xdist); a test file's tests stay on one worker, so the
# module-scoped fixtures (a trained run, a compiled spec) are built once.
test: $(VENV)/.dev dot
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The property tests at full strength: the hypothesis "thorough" profile (500 examples a
# property, random seed; the model-building properties draw 10-25x their `make test` count).
test-thorough: $(VENV)/.dev dot
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -n auto --dist loadfile

# The whole suite from the sdist, as a user who downloads it runs it: build the sdist,
# unpack it, install its wheel into a folder of its own and run its tests against that.
SDIST := build/sdist
test-sdist: $(VENV)/.dev dot
	rm -rf $(SDIST) && mkdir -p $(SDIST)
	$(BIN)/python -c "from setuptools import build_meta as b; print(b.build_sdist('$(SDIST)'))"
	cd $(SDIST) && tar xzf incept-*.tar.gz && cd incept-*/ && \
		$(abspath $(BIN))/python -c "from setuptools import build_meta as b; b.build_wheel('../wheel')" && \
		$(abspath $(BIN))/python -m pip install -q --no-deps --target ../site ../wheel/incept-*.whl && \
		PYTHONPATH=$$(cd ../site && pwd) $(abspath $(BIN))/python -m pytest -q -n auto --dist loadfile -p no:cacheprovider

lint: $(VENV)/.dev
	$(BIN)/ruff check compiler backends tests bench
	$(BIN)/ruff format --check compiler backends tests bench
	$(BIN)/ruff check --isolated --target-version py311 --select E,F,W,I,B,UP,ANN --ignore E501 generated

format: $(VENV)/.dev
	$(BIN)/ruff check --fix compiler backends tests bench
	$(BIN)/ruff format compiler backends tests bench

# mypy checks the package under its installed names (incept, incept.compiler, incept.backends,
# incept.runtime, incept.bench): build/typecheck/incept/ holds symlinks laid out as the wheel installs them,
# so a backend's `from incept.compiler.ir.graph import Graph` is checked, never Any.
TYPECHECK := build/typecheck
typecheck: $(VENV)/.dev
	@rm -rf $(TYPECHECK)/incept && mkdir -p $(TYPECHECK)/incept/backends $(TYPECHECK)/incept/compiler
	@for f in compiler/api/*.py; do ln -s ../../../$$f $(TYPECHECK)/incept/; done
	@for f in compiler/*; do [ $$f = compiler/api ] || ln -s ../../../../$$f $(TYPECHECK)/incept/compiler/; done
	@ln -s ../../../backends/runtime $(TYPECHECK)/incept/runtime
	@ln -s ../../../bench $(TYPECHECK)/incept/bench
	@for f in backends/*; do [ $$f = backends/runtime ] || ln -s ../../../../$$f $(TYPECHECK)/incept/backends/; done
	cd $(TYPECHECK) && $(abspath $(BIN))/mypy --config-file $(abspath pyproject.toml) -p incept

# Regenerate the committed outputs: generated/, the spec schema, docs/specs/ (tests fail when stale).
regen: $(VENV)/.dev
	@for spec in $(SPECS); do for backend in $(BACKENDS); do \
		$(BIN)/incept compile $$spec --backend $$backend || exit 1; done; done
	$(BIN)/incept schema -o $(SCHEMA)
	@for spec in $(SPECS); do \
		$(BIN)/incept docs $$spec -o docs/specs/$$(basename $$spec .yaml).md || exit 1; done

# Fail when generated/ is stale or was edited: one line per such file (CI runs this).
check-generated: $(VENV)/.dev
	@status=0; for spec in $(SPECS); do for backend in $(BACKENDS); do \
		$(BIN)/incept compile $$spec --backend $$backend --check || status=1; done; done; \
	$(BIN)/incept schema -o $(SCHEMA) --check || status=1; \
	for spec in $(SPECS); do \
		$(BIN)/incept docs $$spec -o docs/specs/$$(basename $$spec .yaml).md --check || status=1; done; \
	exit $$status

bench: $(VENV)/.dev
	$(BIN)/python -m incept.bench.compile_time

# What bench/gpu_suite.sh installs on a GPU machine without network: carry/ (git-ignored),
# cp312 wheels and Fashion-MNIST, under 60 MiB (docs/performance.md, "The GPU suite").
gpu-carry: $(VENV)/.dev
	PYTHON=$(BIN)/python bench/gpu_carry.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
