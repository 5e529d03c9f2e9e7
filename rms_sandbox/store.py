"""The sandbox's state in SQLite: shops, licence keys, items, stock, orders and the client-write log."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shops (
    shop_id INTEGER PRIMARY KEY,
    shop_url TEXT NOT NULL UNIQUE,
    service_secret TEXT NOT NULL,
    name TEXT NOT NULL,
    sku_migrated INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    counters TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS license_keys (
    license_key TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL,
    issued REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    shop_id INTEGER NOT NULL,
    manage_number TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    deleted REAL,
    PRIMARY KEY (shop_id, manage_number)
) WITHOUT ROWID;
-- items.search reads one page in (sort key, manageNumber) order; `deleted` is in the index so that COUNT(*) of
-- the live items needs no item data.
CREATE INDEX IF NOT EXISTS items_by_updated ON items (shop_id, updated, manage_number, deleted);
CREATE INDEX IF NOT EXISTS items_by_created ON items (shop_id, created, manage_number, deleted);
CREATE TABLE IF NOT EXISTS inventory (
    shop_id INTEGER NOT NULL,
    manage_number TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    extra TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (shop_id, manage_number, variant_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    order_number TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL,
    progress INTEGER NOT NULL,
    order_dt REAL NOT NULL,
    confirm_dt REAL,
    fix_dt REAL,
    ship_dt REAL,
    ship_rpt_dt REAL,
    settle_dt REAL,
    next_at REAL,
    next_event TEXT,
    plan TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_by_date ON orders (shop_id, order_dt);
CREATE INDEX IF NOT EXISTS orders_by_next ON orders (next_at) WHERE next_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS writes (
    id INTEGER PRIMARY KEY,
    shop_id INTEGER NOT NULL,
    license_key TEXT NOT NULL,
    function TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    at REAL NOT NULL,
    status INTEGER NOT NULL,
    body TEXT
);
CREATE TABLE IF NOT EXISTS shipping_reports (
    id INTEGER PRIMARY KEY,
    shop_id INTEGER NOT NULL,
    order_number TEXT NOT NULL,
    function TEXT NOT NULL,
    at REAL NOT NULL,
    request_id TEXT,
    body TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS async_requests (
    request_id TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL,
    at REAL NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sub_statuses (
    shop_id INTEGER NOT NULL,
    sub_status_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    progress INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (shop_id, sub_status_id)
);
"""

TABLES = (
    "shops", "license_keys", "items", "inventory", "orders", "writes", "shipping_reports",
    "async_requests", "sub_statuses", "meta",
)


class Store:
    """One SQLite connection shared by the app's handlers, guarded by a re-entrant lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the lock; rolls back on any exception."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def get_meta(self, key: str) -> Any:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def reset(self) -> None:
        with self.tx() as conn:
            for table in TABLES:
                if table != "meta":
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @staticmethod
    def next_ids(conn: sqlite3.Connection, shop_id: int, name: str, start: int, count: int = 1) -> int:
        """Reserves `count` values of a per-shop sequence (item, basket, shipping-detail IDs) and returns
        the first; call inside a transaction."""
        row = conn.execute("SELECT counters FROM shops WHERE shop_id = ?", (shop_id,)).fetchone()
        counters = json.loads(row["counters"]) if row else {}
        first = int(counters.get(name, start)) + 1
        counters[name] = first + count - 1
        conn.execute("UPDATE shops SET counters = ? WHERE shop_id = ?", (json.dumps(counters), shop_id))
        return first
