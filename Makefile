# make run  - the demo on this machine (SQLite + in-process tasks, or PostgreSQL + broker when
#             DATABASE_URL / CELERY_BROKER_URL are set)
# make test - the whole suite on PostgreSQL with a real Redis broker and Celery worker
# make bench - benchmarks against PostgreSQL's own figures (docs/benchmarks.md)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# This checkout's own test database and broker keys, so that two checkouts on one machine never
# share them: promotions_ and the first 8 hex digits of the sha1 of this directory's path.
CHECKOUT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
TEST_NAME := promotions_$(shell printf '%s' '$(CHECKOUT)' | { sha1sum 2>/dev/null || shasum; } | cut -c1-8)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/$(TEST_NAME)
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
TEST_BROKER_KEY_PREFIX ?= $(TEST_NAME):

.PHONY: install run test lint bench services e2e-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

services:
	bash .ci/services

e2e-deps:
	bash .ci/e2e-deps

run: install
	bash bin/run

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

test: install services e2e-deps lint
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		CELERY_BROKER_KEY_PREFIX=$(TEST_BROKER_KEY_PREFIX) CELERY_TASK_ALWAYS_EAGER=true DATABASE_POOL_MAX=80 \
		$(PY) -m pytest --create-db -p no:cacheprovider $(PYTEST_ARGS)

bench: install services
	$(PY) -m bench $(BENCH_ARGS)
