# The two commands of the quick start:
#   make run    the whole service on embedded defaults (http://127.0.0.1:8000)
#   make test   lint, type-check and the test suite
#   make test-scale   the service on a Redis Cluster and a Galera cluster on loopback
#   make dist         release wheels in dist/, third-party wheels in dist/wheelhouse/
#   make test-dist    make dist, then install it offline into a fresh venv and serve
#   make test-deploy  make dist, then the container image and compose.yaml with podman
# Each creates .venv and installs the host and every plugin into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/ichnaea_*))
STAMP := $(VENV)/.installed
# the site's browser libraries (Leaflet, Chart.js, MapLibre GL JS) from the npm registry
ASSETS := ichnaea_host/site/static/vendor/.built

.PHONY: run test test-scale lint typecheck pytest install assets clean bench dist test-dist

$(STAMP): pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	touch $(STAMP)

$(ASSETS): web/package.json web/package-lock.json web/build.mjs
	@command -v npm >/dev/null || { echo "make: npm is needed to build the site's assets" \
		"(Debian: apt-get install npm)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cd web && npm run --silent build
	touch $(ASSETS)

install: $(STAMP) $(ASSETS)

assets: $(ASSETS)

run: $(STAMP) $(ASSETS)
	$(BIN)/ichnaea run

lint: $(STAMP)
	$(BIN)/ruff check ichnaea_host plugins tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(ASSETS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# starts its own servers (tests/scale/conftest.py) and stops them after
test-scale: $(STAMP) $(ASSETS)
	ICHNAEA_TEST_SCALE=1 $(BIN)/python -m pytest -q tests/scale $(PYTEST_ARGS)

# Wheels of the host (the site's browser libraries inside) and of every plugin,
# built with the venv's setuptools (no build isolation: no download), and the
# wheels of their third-party dependencies, at the versions the tests ran on,
# so that an install needs no index, npm, git or compiler:
#   pip install --no-index --find-links dist --find-links dist/wheelhouse ichnaea ...
dist: $(STAMP) $(ASSETS)
	rm -rf dist build $(PLUGINS:%=%/build)
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist . $(PLUGINS)
	rm -rf build $(PLUGINS:%=%/build)
	$(BIN)/python -m pip freeze -q --exclude-editable > dist/constraints.txt
	$(BIN)/python -m pip wheel -q -c dist/constraints.txt -w dist/wheelhouse dist/*.whl
	rm -f dist/wheelhouse/ichnaea-*.whl dist/wheelhouse/ichnaea_*.whl
	# redis asks for async-timeout on Python before 3.11.3 (Debian 12's python3)
	$(BIN)/python -m pip wheel -q --no-deps -w dist/wheelhouse 'async-timeout>=4.0.3'
	@ls dist

# installs dist/ offline into a fresh virtualenv and serves from it (tests/test_dist.py)
test-dist: dist
	ICHNAEA_TEST_DIST=1 $(BIN)/python -m pytest -q tests/test_dist.py $(PYTEST_ARGS)

# the Containerfile and compose.yaml for real with podman (tests/deploy, about
# three minutes; the Debian bases are cached in /var/tmp/ichnaea-deploy)
.PHONY: test-deploy
test-deploy: dist
	ICHNAEA_TEST_DEPLOY=1 $(BIN)/python -m pytest -q tests/deploy $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var web/node_modules ichnaea_host/site/static/vendor dist build
