# make run  - the demo on this machine (SQLite + in-process tasks, or PostgreSQL + broker when
#             DATABASE_URL / CELERY_BROKER_URL are set)
# make test - the whole suite on PostgreSQL with a real Redis broker and Celery worker: the fast
#             tier in parallel, then the broker, outage, browser and race tests one at a time
# make test-fast - the fast tier: every test but those and the fuzz test, in parallel
#             (pytest-xdist, XDIST_WORKERS processes, each on a test database of its own)
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
# Tests marked so (pyproject.toml) start a real worker, a service of their own or Chromium, or race
# dozens of threads with a database connection each: they run one at a time. The others run in
# parallel, the xdist workers sharing the database connections that one process may open.
SERIAL := broker or outage or e2e or races or run
XDIST_WORKERS ?= 2
TEST_ENV = DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CELERY_BROKER_KEY_PREFIX=$(TEST_BROKER_KEY_PREFIX) CELERY_TASK_ALWAYS_EAGER=true
# The fuzz test alone took as much CPU as the rest of the fast tier: make test runs it, in parallel.
# (Not even collected in the fast tier: building its schema cost each xdist worker 7 s of CPU.)
FAST := not ($(SERIAL) or fuzz)
FAST_IGNORE := --ignore=tests/guarantees/test_fuzz.py
PYTEST := $(PY) -m pytest --create-db -p no:cacheprovider
PARALLEL = $(TEST_ENV) DATABASE_POOL_MAX=$$((80 / $(XDIST_WORKERS))) \
	$(PYTEST) -n $(XDIST_WORKERS) --dist worksteal

.PHONY: install run test test-fast lint bench services e2e-deps

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
	$(PY) bin/run

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# pytest's exit status 5 (no test selected) is no failure when PYTEST_ARGS leaves one part empty.
test: install services e2e-deps lint
	$(PARALLEL) -m 'not ($(SERIAL))' $(PYTEST_ARGS) || [ $$? = 5 ]
	$(TEST_ENV) DATABASE_POOL_MAX=80 $(PYTEST) -m '$(SERIAL)' $(PYTEST_ARGS) || [ $$? = 5 ]

test-fast: install services
	$(PARALLEL) -m '$(FAST)' $(FAST_IGNORE) $(PYTEST_ARGS)

bench: install services
	$(PY) -m bench $(BENCH_ARGS)
