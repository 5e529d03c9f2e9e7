"""The Alembic revisions: they build the schema the models describe, and go down and up again, on the
database under test (SQLite by default, PostgreSQL with KURA_TEST_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import kura.models  # noqa: F401  (every table on Base.metadata)
from kura.db import Base, Database
from kura.migrate import downgrade, upgrade
from tests.conftest import PG_URL

pytestmark = pytest.mark.database  # the database under test, without the db fixture


def _fresh_url(tmp_path: Path) -> str:
    if PG_URL:
        db = Database(PG_URL)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
        return PG_URL
    return f"sqlite:///{tmp_path / 'migrations.db'}"


def test_upgrade_from_empty_matches_the_models_and_round_trips(tmp_path: Path) -> None:
    url = _fresh_url(tmp_path)
    try:
        upgrade(url)
        db = Database(url)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations differ; run scripts/regen_initial_migration.py: {diff[:5]}"
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        db.dispose()

        downgrade(url, "base")
        db = Database(url)
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.dispose()

        upgrade(url)
        db = Database(url)
        assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(db.engine).get_table_names())
        db.dispose()
    finally:
        if PG_URL:  # leave the shared schema migrated for the tests that follow
            _fresh_url(tmp_path)
            upgrade(PG_URL)
