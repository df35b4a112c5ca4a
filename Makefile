# make run   - a local Roster with demo data at http://127.0.0.1:8000 (embedded mode: SQLite, in-process jobs)
# make test  - the test suite against real PostgreSQL and Redis (started, or installed, by scripts/ensure_services.sh)
# make lint  - ruff check and ruff format --check

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# -n auto gives one worker per core; on a single core still run two so that isolation problems show.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -ge 2 ] && echo auto || echo 2)

.PHONY: run test lint

run: $(VENV)/.installed .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap --url http://$(HOST):$(PORT)
	@# Links the API answers (uploads, error reports, public pages) point at this server unless configured.
	configured="$${PUBLIC_BASE_URL:-$$(grep -s '^PUBLIC_BASE_URL=' .env | cut -d= -f2-)}"; \
		PUBLIC_BASE_URL="$${configured:-http://$(HOST):$(PORT)}" $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The suite's settings come from pytest-env in pyproject.toml (DEBUG=false, its own SECRET_KEY, PostgreSQL, Redis),
# never from .env: this Makefile does not export .env, and settings.py lets the environment win over it.
test: $(VENV)/.installed-test
	bash scripts/ensure_services.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed

.env:
	@echo "Writing .env for local runs (DEBUG=true, a generated SECRET_KEY); see .env.example for every setting."
	@umask 077 && printf '# Local development settings written by make run; see .env.example.\nDEBUG=true\nSECRET_KEY=%s\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
