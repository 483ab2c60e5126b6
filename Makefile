# `make test` and `make demo` each set up what they need on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: test demo lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy imagegate

pytest: $(STAMP_DEV)
	# pytest exits 5 when it collects no test; that is not a failure of the code.
	$(BIN)/python -m pytest; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

test: lint typecheck pytest

demo: $(STAMP_DEV)
	$(BIN)/python examples/demo.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-output
