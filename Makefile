# larq-nobn: `make run` sets everything up and runs the main job, `make test` the test suite.
# Both are idempotent: a second call only re-runs the job.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then echo $$p; break; fi; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
RUN_DIR ?= runs/default
export TF_CPP_MIN_LOG_LEVEL ?= 2
# The test suite runs on every core (pytest-xdist, at most 4 workers), one test file per
# worker so that a file's module fixtures are built once. PYTEST_ARGS= runs it serially.
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: run test lint setup data clean help bench

help:
	@echo "make run   - set up, fetch Fashion-MNIST (Debian package) and train/evaluate the default model"
	@echo "make test  - set up, lint (ruff) and run the test suite"
	@echo "make bench - regenerate BENCHMARKS.md, benchmarks/plots/ and benchmarks/results.json"
	@echo "             (BENCH_ARGS=--quick: a small version; BENCH_ARGS='cost inference': those sections, into reports/)"

setup: $(STAMP)

$(STAMP): setup.py constraints.txt
	@test -n "$(PYTHON)" || { echo "error: need Python 3.10, 3.11 or 3.12 (python3.12/python3.11/python3.10 on PATH); found none" >&2; exit 2; }
	@echo "Setting up $(VENV) with $$($(PYTHON) --version)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

data:
	@if [ -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then exit 0; fi; \
	echo "Fashion-MNIST not found in $(FMNIST_DIR): installing Debian's dataset-fashion-mnist"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	  echo "warning: cannot install system packages as $$(whoami) (not root, no passwordless sudo)." >&2; \
	  echo "  Ask an administrator to run: apt-get install dataset-fashion-mnist" >&2; \
	  echo "  (larq-nobn falls back to tensorflow-datasets, which needs internet)." >&2; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "warning: no apt-get here; install Fashion-MNIST's IDX files into $(FMNIST_DIR) yourself, or rely on tensorflow-datasets (needs internet)." >&2; exit 0; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
	  || echo "warning: apt-get install dataset-fashion-mnist failed; falling back to tensorflow-datasets (needs internet)." >&2

run: setup data
	$(BIN)/larq-nobn train --output $(RUN_DIR)
	$(BIN)/larq-nobn evaluate $(RUN_DIR)/model.keras --dataset fashion_mnist

lint: setup
	$(BIN)/ruff check .

test: setup data lint
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

bench: setup data
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
