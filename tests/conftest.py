"""Shared fixtures: a migrated database per test, on SQLite by default or on the PostgreSQL that
KURA_TEST_DATABASE_URL names (the same tests run on both)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from kura.db import Base, Database
from kura.migrate import upgrade
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox

# Before any test reads Kura's settings (get_settings is cached): Kura's own files (the embedded job queue, the
# secret key file) go to a directory of this test run, never to ./var, where `make run` keeps a developer's queue
# and key; and no database, queue, limiter or key named in the shell reaches a test (a test that needs one gets
# it from its fixtures).
_VAR_DIR = tempfile.mkdtemp(prefix="kura-tests-")
atexit.register(shutil.rmtree, _VAR_DIR, ignore_errors=True)
os.environ["KURA_VAR_DIR"] = _VAR_DIR
for _name in ("KURA_DATABASE_URL", "KURA_QUEUE_URL", "KURA_RATE_LIMIT_URL", "KURA_SECRET_KEY"):
    os.environ.pop(_name, None)

PG_URL = os.environ.get("KURA_TEST_DATABASE_URL", "")


def _reset_pg_schema(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrates once per session: a SQLite file to copy per test, or the PostgreSQL schema."""
    if PG_URL:
        _reset_pg_schema(PG_URL)
        upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "kura.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@functools.cache
def _empty_pg() -> str:
    """Every table emptied (children first) and every sequence back at 1, as TRUNCATE … RESTART IDENTITY would: a
    TRUNCATE of ~30 tables took ~220 ms a test (new files for every table), these DELETEs of a test's rows ~2."""
    import kura.models  # noqa: F401  (every table on Base.metadata)

    deletes = "".join(f'DELETE FROM "{t.name}"; ' for t in reversed(Base.metadata.sorted_tables))
    sequences = ("FOR s IN SELECT c.oid FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = "
                 "'public'::regnamespace LOOP PERFORM setval(s, 1, false); END LOOP;")  # fmt: skip
    return f"DO $$ DECLARE s regclass; BEGIN {deletes}{sequences} END $$"


@pytest.fixture
def db_url(_migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        db = Database(PG_URL)
        with db.engine.begin() as conn:
            conn.execute(text(_empty_pg()))
        db.dispose()
        yield PG_URL
        return
    template = Path(_migrated_template.split("///", 1)[1])
    target = tmp_path / "kura.db"
    shutil.copyfile(template, target)
    yield f"sqlite:///{target}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def pytest_report_header(config: pytest.Config) -> str:
    return f"kura database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (temporary files)'}"


REQUIRE_SERVICES = os.environ.get("KURA_REQUIRE_SERVICES") == "1"


def need_service(name: str, available: bool, how: str) -> None:
    """Skips loudly when a service is missing locally; in CI (KURA_REQUIRE_SERVICES=1) fails instead."""
    if available:
        return
    message = f"{name} is not available: {how}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (KURA_REQUIRE_SERVICES=1: this suite may not skip)")
    pytest.skip(f"SKIPPED LOUDLY — {message}")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """An RMS sandbox over real HTTP, seeded, without rate limits, on a manual clock (a suite may define its own)."""
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False)
    with running_sandbox(config=config, seed=42, items=3, orders=0) as sb:
        yield sb


@pytest.fixture
def throwaway_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Kicks after commit go to a queue of the test's own; the test runs the jobs itself."""
    from kura.jobs import queue

    huey = queue.make_huey(f"sqlite:///{tmp_path / 'queue.db'}", name=f"test-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(queue, "get_huey", lambda: huey)
    return huey


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test-postgres` (KURA_TEST_DB_ONLY=1): only the tests that use the database under test (the db_url
    fixture, or the `database` mark) run again on PostgreSQL; the others (pure functions, the RMS client against
    fakes, the sandboxes, Redis, `kura db copy` to its own PostgreSQL database) are the same run as under
    `make test`."""
    if not (PG_URL and os.environ.get("KURA_TEST_DB_ONLY") == "1"):
        return

    def uses_database(item: pytest.Item) -> bool:
        return "db_url" in getattr(item, "fixturenames", ()) or item.get_closest_marker("database") is not None

    kept = [item for item in items if uses_database(item)]
    dropped = [item for item in items if not uses_database(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
