# The two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install --quiet --disable-pip-version-check --build-constraint build-constraints.txt
DEV ?= 1
# PostgreSQL for the second test pass: TEST_DATABASE_URL, or on CI the local server.
PG_URL ?= $(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/test)

.PHONY: run test lint install install-dev migrate demo messages bench clean

run: install migrate demo
	@scripts/run-dev

test: install-dev lint
	@scripts/run-tests

$(PY):
	@py=$$(scripts/find-python) && echo "Creating $(VENV) with $$py" && "$$py" -m venv $(VENV)
	@$(PIP) install --quiet --disable-pip-version-check --upgrade "pip>=25.3"

$(VENV)/.installed: requirements.txt build-constraints.txt | $(PY)
	@echo "Installing requirements..."
	@$(PIP_INSTALL) -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	@echo "Installing test requirements..."
	@$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@DJANGO_DEBUG=$(DEV) $(PY) manage.py migrate --no-input -v 0

demo: migrate
	@DJANGO_DEBUG=$(DEV) DJANGO_DEMO=1 $(PY) manage.py seed_demo --quiet-logins

lint: install-dev
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check --quiet . || (echo "ruff format would change files: run '$(VENV)/bin/ruff format .'"; exit 1)
	@out=$$($(VENV)/bin/lint-imports --no-cache --no-logo 2>&1) || { echo "$$out"; echo "Imports break the layers (docs/architecture.md)."; exit 1; }
	@$(VENV)/bin/vulture || (echo "Dead code: delete it, or name the exception in pyproject.toml [tool.vulture]"; exit 1)

# Rebuild the translation catalogues after changing strings (needs GNU gettext); the compiled
# .mo files are committed so a fresh machine needs no gettext.
messages: install
	@scripts/make-messages

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) staticfiles var .pytest_cache .ruff_cache
