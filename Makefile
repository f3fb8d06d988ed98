# LearnFlow. `make up` runs the whole mesh on embedded defaults; `make test` runs every test.
# Both create .venv, install the project with its pinned infrastructure wheels, and generate code first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: up test setup gen lint typecheck check bench clean gen-gateway gen-k8s

up: setup
	$(BIN)/learnflow up

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "LearnFlow needs Python 3.11+; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[infra,dev]'
	touch $(STAMP)

# Regenerate gen/ from proto/, then the Envoy config and OpenAPI from the descriptor set.
gen: setup
	$(BIN)/python -m services.runtime.codegen
	$(BIN)/python -m gateway.generate
	$(BIN)/python deploy/k8s/generate.py

lint: setup
	$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
