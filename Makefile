# Kura's two commands (`make run`, `make test`) and the rest; each sets itself up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres test-browser test-distributed test-chaos test-all bench lint fmt sandbox clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

## make run: migrate, create the admin on first run, start Kura (SQLite, embedded jobs) with the RMS sandbox
## (var/rms_sandbox.db, a seeded shop on :8765) connected as the store "Demo shop".
run: $(STAMP)
	$(BIN)/kura bootstrap
	$(BIN)/kura serve --demo

## make test: the whole suite on SQLite; PostgreSQL/Redis/browser suites run when their service is here (the
## multi-process suites, ~1.5 min, run with `make test-distributed`; the chaos test, ~4 min, with `make test-chaos`).
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not distributed and not chaos"

## make test-postgres: every test that uses Kura's database, again on PostgreSQL (the others never touch it: their run
## under `make test` is the same run; see tests/conftest.py, KURA_TEST_DB_ONLY).
test-postgres: $(STAMP)
	KURA_TEST_DATABASE_URL=$(PG_URL) KURA_TEST_DB_ONLY=1 KURA_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q \
		-m "not browser and not distributed and not chaos"

## make test-distributed: Kura as real processes (serve, 2-3 workers, schedulers) on PostgreSQL and a redis-server
## of its own: configuration-only distributed mode, SIGKILLed worker taken over after its lease, rate limits.
test-distributed: $(STAMP)
	KURA_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -m distributed tests/distributed

## make test-chaos (in CI): 20 shops syncing on 3 workers + a scheduler while buyers order and stock changes, workers are
## SIGKILLed at random and Redis is restarted; then every order exactly once, stock equal, no 429, no stuck job, all
## within a 90 s settle (3 min of chaos, ~4 min in all; it prints its figures). Its own PostgreSQL database: test_chaos.
test-chaos: $(STAMP)
	KURA_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -s -m chaos tests/chaos

test-browser: $(STAMP)
	KURA_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -m browser

bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check kura rms_sandbox carriers_sandbox tests bench scripts
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix kura rms_sandbox carriers_sandbox tests bench scripts

sandbox: $(STAMP)
	$(BIN)/kura sandbox

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
