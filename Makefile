# l3 — two commands: `make run` (the lessons, headless, on the built-in data) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-lesson lab docs bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel

# Runtime install (the library and the `l3` command).
$(VENV)/.runtime: $(BIN)/python setup.py settings.ini
	$(BIN)/python -m pip install -q -e .
	touch $@

# Developer install (nbdev, jupyterlab, pytest, hypothesis), then nbdev's hooks: Jupyter cleans a notebook's metadata
# on save (outputs kept; `jupyter_hooks = True` in settings.ini), git merges notebooks with nbdev_merge.
$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e ".[dev]"
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nbdev_install_hooks \
	  || echo "note: nbdev_install_hooks failed; notebooks are still cleaned on save under 'make lab'" >&2
	touch $@

run: $(VENV)/.runtime
	$(BIN)/l3 lesson all

# The committed tree is exported and clean (checked in a temporary checkout: your saved notebooks are not touched),
# then the style check (ruff: pyflakes and pycodestyle errors in l3/ and the notebooks), then every test, the
# notebooks run as they are in your working copy.
test: $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" bash tools/check_sync.sh
	$(BIN)/ruff check l3 nbs
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest tests

# One lesson, as `make test` runs it: make test-lesson NAME=planet
LESSONS := $(basename $(notdir $(wildcard nbs/lessons/*.ipynb)))
test-lesson:
	@[ -n "$(NAME)" ] && [ -f "nbs/lessons/$(NAME).ipynb" ] \
	  || { echo "usage: make test-lesson NAME=<lesson>, one of: $(LESSONS)" >&2; exit 2; }
	@$(MAKE) --no-print-directory $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" L3_OFFLINE=$${L3_OFFLINE-1} $(BIN)/nbdev_test --path nbs/lessons/$(NAME).ipynb

# JupyterLab on nbs/, saving through nbdev's clean hook (tests/test_jupyterlab.py starts it the same way).
lab: $(VENV)/.dev
	cd nbs && PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/jupyter lab \
	  --ContentsManager.pre_save_hook=nbdev.clean.clean_jupyter $(if $(filter 0,$(shell id -u)),--allow-root)

docs: $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/build_docs.py

# fastai (the peer) goes into its own venv, .venv-bench, that reuses this venv's packages (torch) through a .pth file:
# installed into .venv it would upgrade fastcore past what nbdev 2.4.14 needs. bench/_peer.py looks for it there.
BENCH_SITE = $(shell $(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" 2>/dev/null)
.venv-bench/.ok: $(VENV)/.runtime
	$(PYTHON) -m venv .venv-bench
	echo "$(BENCH_SITE)" > "$$(.venv-bench/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/l3-main.pth"
	.venv-bench/bin/python -m pip install -q fastai
	touch $@

bench: $(VENV)/.runtime .venv-bench/.ok
	$(BIN)/l3 bench all

clean-venv:
	rm -rf $(VENV)
