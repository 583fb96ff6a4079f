# The two commands of the README: `make run` and `make test`. Everything else supports them.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test setup lint typecheck lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

# Strict editable mode: mypy can follow it, and each folder maps to cellorg.<folder>.
setup: $(VENV)/.deps
	$(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict

run: setup
	$(BIN)/cellorg serve --demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test: setup
	bash scripts/services.sh
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/python -m pytest

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
