"""Many rows in one statement (kura.sqlrows): what goes in comes back the same, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, cast

import pytest
from sqlalchemy import JSON, Column, Enum, Integer, MetaData, Table, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from kura.db import Database, UTCDateTime, utcnow
from kura.jobs.outbox import OutboxRow
from kura.sqlrows import among, insert_rows, update_rows
from kura.stores.models import Binding, BindingEntity, Channel, Store

BINDINGS = cast(Table, Binding.__table__)
ODD = ['plain', 'quote"d', "back\\slash", "tab\there", "new\nline", "\\N", "com,ma", "{brace}", "日本語 サイズ", "NULL",
       " spaced ", "'single'"]  # fmt: skip


def _store(db: Database) -> int:
    with db.transaction() as s:
        store = Store(name="rows", channel=Channel.rakuten, shop_code="rows")
        s.add(store)
        s.flush()
        return store.id


def _binding(store_id: int, i: int, external_id: str, data: Any) -> dict[str, Any]:
    now = utcnow()
    return {"store_id": store_id, "entity": BindingEntity.sku, "local_id": i, "external_id": external_id,
            "data": data, "synced_at": None if i % 2 else now, "created_at": now}  # fmt: skip


def test_inserted_rows_read_back_unchanged(db: Database) -> None:
    store_id = _store(db)
    data: list[Any] = [{"a": 1, "日本": "語", "nested": [1, {"x": None}]}, [1, 2], "text", 3, None, {}, [], True, 0]
    rows = [_binding(store_id, i, code, data[i % len(data)]) for i, code in enumerate(ODD)]
    with db.transaction() as s:
        insert_rows(s, BINDINGS, rows)
    with db.reader() as s:
        got = {b.external_id: b for b in s.scalars(select(Binding).where(Binding.store_id == store_id))}
    assert set(got) == set(ODD)
    for row in rows:
        binding = got[row["external_id"]]
        assert binding.entity == BindingEntity.sku
        assert binding.local_id == row["local_id"]
        assert binding.data == row["data"]  # None stored as JSON null, read back as None
        assert binding.synced_at == row["synced_at"]
        assert binding.created_at == row["created_at"]


def test_rows_keep_their_order(db: Database) -> None:
    store_id = _store(db)
    codes = [f"k{i:04d}" for i in range(300, 0, -1)]
    with db.transaction() as s:
        insert_rows(s, BINDINGS, [_binding(store_id, i, code, {}) for i, code in enumerate(codes)])
    with db.reader() as s:
        assert list(s.scalars(select(Binding.external_id).order_by(Binding.id))) == codes


def test_on_conflict_and_update(db: Database) -> None:
    store_id = _store(db)
    now = utcnow()
    table = cast(Table, OutboxRow.__table__)

    def mark(keys: list[str]) -> None:
        rows = [{"store_id": store_id, "kind": "stock", "key": key, "dirty_since": now, "generation": 1,
                 "attempts": 0, "next_attempt_at": now} for key in keys]  # fmt: skip
        with db.transaction() as s:
            insert_rows(s, table, rows, conflict=lambda stmt: stmt.on_conflict_do_update(
                index_elements=["store_id", "kind", "key"], set_={"generation": table.c.generation + 1}))  # fmt: skip

    mark(["a", "b"])
    mark(["b", "c"])
    with db.reader() as s:
        generations = {key: generation for key, generation in s.execute(select(OutboxRow.key, OutboxRow.generation))}
    assert generations == {"a": 1, "b": 2, "c": 1}

    with db.transaction() as s:
        update_rows(s, table, [{"key": "a", "attempts": 3}, {"key": "c", "attempts": 5}], keys=["key"],
                    where=[table.c.store_id == store_id], values={"last_error": "refused"})  # fmt: skip
    with db.reader() as s:
        got = {r.key: (r.attempts, r.last_error) for r in s.execute(select(OutboxRow.key, OutboxRow.attempts,
                                                                              OutboxRow.last_error))}  # fmt: skip
    assert got == {"a": (3, "refused"), "b": (0, None), "c": (5, "refused")}


class Size(enum.Enum):  # names differ from values: SQLAlchemy's Enum stores the name
    small = "S"
    large = "L"


def test_an_enum_is_stored_by_name_as_the_orm_stores_it(db: Database) -> None:
    probe = Table("sqlrows_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("size", Enum(Size, native_enum=False, length=10)), Column("at", UTCDateTime()),
                  Column("doc", JSON().with_variant(JSONB(), "postgresql")))  # fmt: skip
    probe.create(db.engine)
    try:
        at = utcnow()
        rows = [{"id": 1, "size": Size.large, "at": at, "doc": {"k": [1]}},
                {"id": 2, "size": None, "at": None, "doc": None}]  # fmt: skip
        with db.transaction() as s:
            insert_rows(s, probe, rows)
        with db.reader() as s:
            assert s.execute(select(probe).order_by(probe.c.id)).all() == [(1, Size.large, at, {"k": [1]}),
                                                                          (2, None, None, None)]  # fmt: skip
            assert s.scalar(select(func.count()).select_from(probe).where(text("size = 'large'"))) == 1
    finally:
        probe.drop(db.engine)


def test_bad_rows_are_refused_before_anything_is_sent(db: Database) -> None:
    store_id = _store(db)
    with db.transaction() as s, pytest.raises(ValueError, match="same keys"):
        insert_rows(s, BINDINGS, [_binding(store_id, 1, "a", {}), {"store_id": store_id}])
    naive = {**_binding(store_id, 1, "a", {}), "created_at": dt.datetime(2026, 1, 1)}
    with db.transaction() as s, pytest.raises(Exception, match="naive datetime"):
        insert_rows(s, BINDINGS, [naive])


def test_among_finds_odd_codes_and_ids(db: Database) -> None:
    store_id = _store(db)
    with db.transaction() as s:
        insert_rows(s, BINDINGS, [_binding(store_id, i, code, {}) for i, code in enumerate(ODD)])
    with db.reader() as s:
        found = set(s.scalars(select(Binding.external_id).where(among(Binding.external_id, [*ODD[::2], "none"], s))))
        assert found == set(ODD[::2])
        ids = set(s.scalars(select(Binding.local_id).where(among(Binding.local_id, [1, 3, 99], s))))
        assert ids == {1, 3}
        assert not list(s.scalars(select(Binding.id).where(among(Binding.external_id, [], s))))


def test_a_duplicate_is_an_integrity_error_and_a_savepoint_recovers(db: Database) -> None:
    store_id = _store(db)
    with db.transaction() as s:
        insert_rows(s, BINDINGS, [_binding(store_id, 1, "dup", {})])
        with pytest.raises(IntegrityError), s.begin_nested():  # the same (store, entity, external_id) again
            insert_rows(s, BINDINGS, [_binding(store_id, 2, "fresh", {}), _binding(store_id, 3, "dup", {})])
        insert_rows(s, BINDINGS, [_binding(store_id, 4, "after", {})])  # the transaction goes on
    with db.reader() as s:
        assert sorted(s.scalars(select(Binding.external_id).where(Binding.store_id == store_id))) == ["after", "dup"]
