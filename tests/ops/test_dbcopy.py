"""`kura db copy`: every table, parents first, counts verified, sequences moved on, a filled target refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import JSON, create_engine, func, select, text
from typer.testing import CliRunner

from kura.auth.models import User
from kura.auth.service import create_user
from kura.catalog.models import Product
from kura.cli import app as kura_cli
from kura.db import Database
from kura.dbcopy import CopyRefused, copy_database, tables
from kura.jobs.runs import JobRun, RunStatus
from kura.migrate import upgrade
from kura.stores.models import Channel, Store, StoreStatus, SyncLogEntry
from tests.conftest import need_service
from tests.domain.factories import add_single

OPS_PG_URL = os.environ.get("KURA_TEST_OPS_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_ops")


def seeded_sqlite(path: Path) -> str:
    """A migrated SQLite database with rows in the tables a running shop fills first."""
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        create_user(s, "admin", "correct horse battery", "admin")
        create_user(s, "ops", "correct horse battery", "operator")
        store = Store(name="shop", channel=Channel.rakuten, status=StoreStatus.needs_attention, settings={"a": 1})
        s.add(store)
        s.flush()
        s.add(SyncLogEntry(store_id=store.id, kind="call", level="info", message="ok", request={"q": [1, 2]}))
        s.add(SyncLogEntry(store_id=store.id, kind="call", level="error", message="no body"))  # request: SQL NULL
        s.add(JobRun(kind="rakuten.orders", store_id=store.id, status=RunStatus.done, counts={"imported": 3}))
    for n in range(3):
        add_single(db, f"SKU-{n}", name=f"品物 {n}")
    db.dispose()
    return url


def counts(url: str) -> dict[str, int]:
    db = Database(url)
    with db.reader() as s:
        found = {t.name: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in tables()}
    db.dispose()
    return found


def json_nulls(url: str) -> dict[str, int]:
    """Per JSON column, how many rows hold SQL NULL (JSON null would not count)."""
    db = Database(url)
    found = {}
    with db.reader() as s:
        for t in tables():
            for c in t.columns:
                if isinstance(c.type, JSON):
                    found[f"{t.name}.{c.name}"] = int(s.scalar(select(func.count()).where(c.is_(None))) or 0)
    db.dispose()
    return found


def test_sqlite_to_sqlite_copies_every_row_and_keeps_sql_nulls(tmp_path: Path) -> None:
    source = seeded_sqlite(tmp_path / "kura.db")
    target = f"sqlite:///{tmp_path / 'copy.db'}"

    result = copy_database(source, target, batch=2)

    assert {c.table: c.target for c in result} == counts(source) == counts(target)
    assert counts(target)["users"] == 2 and counts(target)["skus"] == 3
    assert json_nulls(target) == json_nulls(source)
    assert json_nulls(target)["sync_log.request"] == 1


def test_a_target_with_rows_is_refused_unless_forced(tmp_path: Path) -> None:
    source = seeded_sqlite(tmp_path / "kura.db")
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    copy_database(source, target)
    with pytest.raises(CopyRefused, match="--force"):
        copy_database(source, target)
    assert [c for c in copy_database(source, target, force=True) if not c.ok] == []
    assert counts(target) == counts(source)


def test_an_unmigrated_source_is_refused_and_the_target_left_alone(tmp_path: Path) -> None:
    with pytest.raises(CopyRefused, match="kura db upgrade"):
        copy_database(f"sqlite:///{tmp_path / 'empty.db'}", f"sqlite:///{tmp_path / 'copy.db'}")


def _pg_available(url: str) -> bool:
    """Creates the test_ops database when the server is there and it is missing."""
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    try:
        server = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
        return True
    except Exception:
        return False


@pytest.mark.postgres
def test_sqlite_to_postgresql_round_trip_with_counts_and_sequences(tmp_path: Path) -> None:
    need_service("PostgreSQL", _pg_available(OPS_PG_URL), f"start PostgreSQL or set KURA_TEST_OPS_DATABASE_URL "
                 f"(tried {OPS_PG_URL})")  # fmt: skip
    pg = Database(OPS_PG_URL)
    with pg.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    source = seeded_sqlite(tmp_path / "kura.db")
    runner = CliRunner()
    env = {"KURA_VAR_DIR": str(tmp_path / "var")}

    copied = runner.invoke(kura_cli, ["db", "copy", "--from", source, "--to", OPS_PG_URL], env=env)

    assert copied.exit_code == 0, copied.output
    assert "counts match" in copied.output and "sync_log" in copied.output
    assert counts(OPS_PG_URL) == counts(source)
    assert json_nulls(OPS_PG_URL) == json_nulls(source)
    with pg.reader() as s:
        names = sorted(s.scalars(select(User.username)))
        product_names = sorted(s.scalars(select(Product.name)))
        store = s.scalars(select(Store)).one()
    assert names == ["admin", "ops"] and product_names == ["品物 0", "品物 1", "品物 2"]
    assert (store.status, store.settings) == (StoreStatus.needs_attention, {"a": 1})

    # Sequences continue after the copied ids: new rows get fresh ids instead of clashing.
    with pg.transaction() as s:
        max_user = s.scalar(select(func.max(User.id)))
        max_log = s.scalar(select(func.max(SyncLogEntry.id)))
        user = create_user(s, "after-copy", "correct horse battery", "viewer")
        entry = SyncLogEntry(store_id=store.id, kind="call", level="info", message="after")
        s.add(entry)
        s.flush()
        assert (user.id, entry.id) == ((max_user or 0) + 1, (max_log or 0) + 1)

    refused = runner.invoke(kura_cli, ["db", "copy", "--from", source, "--to", OPS_PG_URL], env=env)
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = runner.invoke(kura_cli, ["db", "copy", "--from", source, "--to", OPS_PG_URL, "--force"], env=env)
    assert forced.exit_code == 0, forced.output
    assert counts(OPS_PG_URL) == counts(source), "--force empties the target first"
    pg.dispose()
