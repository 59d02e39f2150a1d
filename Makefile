# tahaluf — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
	@echo "tahaluf is installed in $(VENV): run '. $(VENV)/bin/activate' to put it on your PATH (or call $(BIN)/tahaluf)"

run: $(STAMP)
	$(BIN)/tahaluf demo --serve

# the quality gates (ruff, then mypy over src) run first: a finding stops the tests
test: lint
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/hash_bench.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
