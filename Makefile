# LearnFlow. `make up` runs the whole mesh on embedded defaults; `make test` runs every test.
# Both create .venv, install the project with its pinned infrastructure wheels, and generate code first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: up test setup gen lint typecheck check bench clean

up: setup
	$(BIN)/learnflow up

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "LearnFlow needs Python 3.11+; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	@echo "installing LearnFlow and its pinned dependencies into $(VENV) (first run: about a minute)..."
	@$(BIN)/python -m pip install --disable-pip-version-check --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install --disable-pip-version-check -e '.[infra,dev]' >> $(VENV)/pip.log 2>&1 || { tail -40 $(VENV)/pip.log; exit 1; }
	@echo "installed (log: $(VENV)/pip.log)"
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
