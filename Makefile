# The two set-up commands of the README are `make demo` and `make test`.
#
# Everything runs in the project's virtual environment .venv/, made on first use by
# scripts/venv (the system python may be externally managed, PEP 668). PYTHON is the
# interpreter that makes the venv: `make demo PYTHON=python3.12`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where the demo puts its registry, remote and state: `make demo DIR=/tmp/try-it`.
DIR ?=
export PYTHON VENV

.PHONY: demo test lint install install-test

install:
	bash scripts/venv demo

install-test:
	bash scripts/install-test-deps

demo: install
	$(BIN)/gitops-watcher demo $(DIR)

test: install-test
	$(BIN)/python -m ruff check watcher tests bench
	$(BIN)/python -m mypy
	$(BIN)/lint-imports
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: install-test
	$(BIN)/python -m ruff check watcher tests bench
	$(BIN)/python -m mypy
	$(BIN)/lint-imports
