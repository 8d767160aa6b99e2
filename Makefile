# Portal: `make run` serves the local demo on http://localhost:3000, `make test` runs every check.
# Production is not `make run`: see docs/OPERATIONS.md, "Production".
# Setup steps leave stamp files, so a second run skips work already done.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV := $(ROOT)/.venv
TOOLS := $(ROOT)/.tools
BUN_VERSION := 1.4.5
PORT ?= 3000
# The demo listens on loopback only: its dev mailbox shows every sign-in link (the app refuses to
# start with the mailbox on and a non-loopback address here or in PORTAL_PUBLIC_URL).
BIND_HOST ?= 127.0.0.1

# The venv's tools and the npm-installed bun come first (Reflex uses a bun found on PATH and
# downloads nothing then).
export PATH := $(TOOLS)/node_modules/.bin:$(VENV)/bin:$(PATH)
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_TELEMETRY_ENABLED := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1
# The browser must reach the app at this origin (CORS); set it to the public URL behind a proxy.
export PORTAL_PUBLIC_URL ?= http://localhost:$(PORT)
# PORTAL_DB_URL / REFLEX_DB_URL default to sqlite:///<repo>/portal.db (portal_app/config.py).

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600

.PHONY: help run test setup setup-test migrate seed chromium services lint unit unit-postgres units faults browser browser-scaled fmt \
	bench migration clean

help:
	@echo "make run        the local demo: set up, migrate, seed, serve on http://localhost:$(PORT)"
	@echo "make test       set up, ruff, unit tests (SQLite, PostgreSQL), fault tests, browser tests"
	@echo "make fmt        ruff format + ruff check --fix"
	@echo "make migrate    apply migrations      make seed   seed the demo merchant"
	@echo "make migration  regenerate the single initial migration from the models"
	@echo "make bench      run each bench/*.py script (BENCH_ARGS=... passed on)"

# --- setup -----------------------------------------------------------------------------------

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e .
	touch $@

# Runtime + test dependencies (covers the runtime stamp too).
$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

# bun from the npm registry (Reflex's own bun download cannot work without internet). npm does
# not run bun's postinstall; the package's binary works without it.
$(TOOLS)/.bun-$(BUN_VERSION):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	$(TOOLS)/node_modules/.bin/bun --version
	rm -f $(TOOLS)/.bun-*
	touch $@

setup: $(VENV)/.installed $(TOOLS)/.bun-$(BUN_VERSION)

setup-test: $(VENV)/.installed-test $(TOOLS)/.bun-$(BUN_VERSION)

migrate: setup
	reflex db migrate

seed: setup
	python -m portal_app.cli seed-demo

# --- run ---------------------------------------------------------------------------------------

# The local demo on the production build: pages, the event websocket and HTTP routes all on one
# port, bound to $(BIND_HOST). It shows sign-in mail in the dev mailbox (/dev/mailbox), so no
# mail server is needed, and so it is for this machine only; never expose it.
# The worker (billing clock, mail, webhooks) runs beside it; stopping `make run` stops both.
run: setup migrate seed
	@export PORTAL_DEV_MAILBOX=$${PORTAL_DEV_MAILBOX:-1}; \
	python -m portal_app.cli worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null || true; wait $$worker 2>/dev/null || true' EXIT; \
	reflex run --env prod --backend-host $(BIND_HOST) --frontend-port $(PORT) --backend-port $(PORT)

# --- test --------------------------------------------------------------------------------------

# Debian packages the tests use: Chromium, pdftoppm (PDF pages), curl (the API guide's examples).
chromium:
	@if [ ! -x /usr/bin/chromium ] || ! command -v pdftoppm >/dev/null || ! command -v curl >/dev/null; then \
		$(APT_GET) update && $(APT_GET) install -y chromium poppler-utils curl; \
	fi

services:
	@scripts/services.sh

lint: setup-test
	@rc=0; ruff check . || rc=1; ruff format --check . || rc=1; exit $$rc

unit: setup-test
	@rc=0; python -m pytest tests/unit || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "WARNING: no unit tests collected"; rc=0; fi; exit $$rc

# The unit suite again on PostgreSQL (concurrency tests take real row locks there). Required when
# a PostgreSQL client is installed (CI's machine has a server on 127.0.0.1:5432); skipped elsewhere.
PG_TEST_DB ?= portal_unit_test
unit-postgres: setup-test
	@if ! command -v psql >/dev/null; then echo "postgresql: not installed, unit-postgres skipped"; exit 0; fi; \
	pg_isready -q -h 127.0.0.1 -p 5432 || { echo "postgresql not reachable on 127.0.0.1:5432"; exit 1; }; \
	dropdb -h 127.0.0.1 -U postgres --if-exists $(PG_TEST_DB); \
	createdb -h 127.0.0.1 -U postgres $(PG_TEST_DB); \
	PORTAL_TEST_DB_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$(PG_TEST_DB) \
		python -m pytest -q -p no:cacheprovider tests/unit

# Both unit suites side by side (one core each), each to its own log, printed when both are done:
# about 10 minutes instead of 18 on CI's 2 cores. Nothing else runs beside them.
units: setup-test
	@mkdir -p artifacts; rc=0; \
	$(MAKE) --no-print-directory unit > artifacts/unit-sqlite.log 2>&1 & sqlite=$$!; \
	$(MAKE) --no-print-directory unit-postgres > artifacts/unit-postgres.log 2>&1 & postgres=$$!; \
	for suite in sqlite postgres; do \
		pid=$$sqlite; [ $$suite = postgres ] && pid=$$postgres; \
		echo "== unit tests, $$suite"; \
		if wait $$pid; then tail -n 3 artifacts/unit-$$suite.log; \
		else rc=1; cat artifacts/unit-$$suite.log; fi; \
	done; \
	exit $$rc

browser: setup-test chromium
	python -m pytest tests/browser

# The customer flows, sign-in and forged-event tests again on the scaled-out layout: PostgreSQL,
# Redis (Reflex state + rate limits) and 2 backend workers. Required where both servers are
# installed (CI's machine); skipped elsewhere.
SCALED_BROWSER_TESTS := tests/browser/test_portal_flows.py tests/browser/test_sign_in.py \
	tests/browser/test_forged_events.py
browser-scaled: setup-test chromium
	@if ! command -v psql >/dev/null || ! command -v redis-server >/dev/null; then \
		echo "postgresql/redis: not installed, browser-scaled skipped"; exit 0; fi; \
	PORTAL_BROWSER_SCALED=1 PORTAL_BROWSER_WORKERS=2 \
		python -m pytest -q -p no:cacheprovider $(SCALED_BROWSER_TESTS)

# Fault tests: SMTP down, PostgreSQL restarted, Redis killed, a billing run killed. Each starts
# its own private servers (SMTP stub, PostgreSQL cluster, redis-server) on free ports.
faults: setup-test
	python -m pytest -q -p no:cacheprovider tests/faults

# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
test: setup-test chromium services
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory units || status=1; \
	$(MAKE) --no-print-directory faults || status=1; \
	$(MAKE) --no-print-directory browser || status=1; \
	$(MAKE) --no-print-directory browser-scaled || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED"; else echo "make test: all passed"; fi; \
	exit $$status

# --- helpers -----------------------------------------------------------------------------------

fmt: setup-test
	ruff format .
	ruff check --fix .

# Each bench/*.py (not the _helpers) prints its own figures; BENCH_ARGS is passed to each one,
# e.g. make bench BENCH_ARGS="--count 100000".
bench: setup-test
	@shopt -s nullglob; scripts=(bench/[!_]*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks yet (bench/ is empty)"; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; python "$$script" $(BENCH_ARGS); done

migration: setup
	scripts/regen-migration.sh

clean:
	rm -rf .web .states artifacts .pytest_cache
