# The two commands of the quick start:
#   make run    the whole service on embedded defaults (http://127.0.0.1:8000)
#   make test   lint, type-check and the test suite
# Both create .venv and install the host and every plugin into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/ichnaea_*))
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install clean bench

$(STAMP): pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ichnaea run

lint: $(STAMP)
	$(BIN)/ruff check ichnaea_host plugins tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var
