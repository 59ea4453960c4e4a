# l3 — two commands: `make run` (the lessons, headless, on the built-in data) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lab docs bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel

# Runtime install (the library and the `l3` command).
$(VENV)/.runtime: $(BIN)/python setup.py settings.ini
	$(BIN)/python -m pip install -q -e .
	touch $@

# Developer install (nbdev, jupyterlab, pytest, hypothesis).
$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

run: $(VENV)/.runtime
	$(BIN)/l3 lesson all

test: $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" bash tools/check_sync.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest tests

lab: $(VENV)/.dev
	$(BIN)/jupyter lab nbs

docs: $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/build_docs.py

bench: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/l3 bench all

clean-venv:
	rm -rf $(VENV)
