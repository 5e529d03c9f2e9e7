# Kura's two commands (`make run`, `make test`) and the rest; each sets itself up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres test-browser test-all bench lint fmt sandbox clean

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

## make test: the whole suite on SQLite; PostgreSQL/Redis/browser suites run when their service is here.
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-postgres: $(STAMP)
	KURA_TEST_DATABASE_URL=$(PG_URL) KURA_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -m "not browser"

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
