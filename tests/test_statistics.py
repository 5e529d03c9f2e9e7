"""Planner statistics kept in step with fast-growing tables (`Database.refresh_statistics`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, text

import kura.db
from kura.db import Database

pytestmark = pytest.mark.database


@pytest.fixture(autouse=True)
def _no_autovacuum(db: Database) -> Iterator[None]:
    """Autovacuum could analyse the table before the code under test does."""
    if db.is_sqlite:
        yield
        return
    with db.transaction() as s:
        s.execute(text("ALTER TABLE warehouses SET (autovacuum_enabled = false)"))
    yield
    with db.transaction() as s:
        s.execute(text("ALTER TABLE warehouses RESET (autovacuum_enabled)"))


def _insert_warehouses(db: Database, n: int) -> None:
    with db.transaction() as s:
        s.execute(text("INSERT INTO warehouses (code, name, active, created_at) "
                       "SELECT 'WH-' || i, 'warehouse ' || i, true, now() FROM generate_series(1, :n) AS i"),
                  {"n": n})  # fmt: skip


def _reltuples(db: Database, table: str) -> float:
    with db.reader() as s:
        return float(s.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}))


def test_a_table_grown_past_its_statistics_is_analysed_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.is_sqlite:
        assert db.refresh_statistics(["warehouses"]) == []  # SQLite's planner prefers an index without them
        return
    monkeypatch.setattr(kura.db, "STATS_CHECK_S", 0.0)
    _insert_warehouses(db, 2000)
    # A backend reports its changes to the statistics system when it goes idle: within a second, or up to ten
    # when it reported less than a second before. Autovacuum is kept out of the way (it would analyse first).
    analysed: list[str] = []
    deadline = time.monotonic() + 20
    while _reltuples(db, "warehouses") < 1500 and time.monotonic() < deadline:
        analysed += db.refresh_statistics(["warehouses", "skus"])
        time.sleep(0.2)
    assert "warehouses" in analysed
    assert _reltuples(db, "warehouses") >= 1500, "the statistics count the rows inserted"
    time.sleep(1.5)
    assert db.refresh_statistics(["warehouses"]) == [], "nothing changed since: not analysed again"
    with db.transaction() as s:  # 500 changed: fewer than STATS_MIN_CHANGES + STATS_GROWTH × 2,000
        s.execute(text("UPDATE warehouses SET name = name || '!' WHERE id IN "
                       "(SELECT id FROM warehouses ORDER BY id LIMIT 500)"))
    time.sleep(1.5)
    assert db.refresh_statistics(["warehouses"]) == []


def test_a_process_looks_at_most_every_few_seconds(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite: nothing is looked at")
    monkeypatch.setattr(kura.db, "STATS_MIN_CHANGES", 0)
    monkeypatch.setattr(kura.db, "STATS_GROWTH", 0.0)
    monkeypatch.setattr(kura.db, "STATS_CHECK_S", 60.0)
    db.refresh_statistics(["warehouses"])  # the first look: due again in a minute
    _insert_warehouses(db, 10)
    time.sleep(1.5)
    assert db.refresh_statistics(["warehouses"]) == [], "within STATS_CHECK_S of the last look"
    analysed: list[str] = []
    deadline = time.monotonic() + 20
    while not analysed and time.monotonic() < deadline:  # a due look finds the change once it is reported
        monkeypatch.setattr(db, "_stats_due", 0.0)
        analysed = db.refresh_statistics(["warehouses"])
        time.sleep(0.2)
    assert analysed == ["warehouses"]


def test_a_failed_look_does_not_stop_the_caller(db: Database, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    if db.is_sqlite:
        pytest.skip("SQLite: nothing is looked at")
    broken = text("SELECT relname FROM no_such_view WHERE relname IN :names").bindparams(
        bindparam("names", expanding=True))  # fmt: skip
    monkeypatch.setattr(kura.db, "_STALE_TABLES", broken)
    monkeypatch.setattr(kura.db, "STATS_CHECK_S", 0.0)
    assert db.refresh_statistics(["warehouses"]) == []
    assert "could not take planner statistics of warehouses: ProgrammingError" in caplog.text
