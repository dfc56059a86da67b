# The two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3

.PHONY: demo test lint install

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[demo]'

demo: install
	gitops-watcher demo

test:
	bash scripts/install-test-deps
	$(PYTHON) -m ruff check watcher tests bench
	$(PYTHON) -m mypy
	lint-imports
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check watcher tests bench
	$(PYTHON) -m mypy
	lint-imports
