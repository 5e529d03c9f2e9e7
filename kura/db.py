"""Engines, sessions and column types shared by every table, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias, autoincrement) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
# Money is integer yen, never Numeric (SQLite stores Numeric as REAL).
Yen = BigInteger


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite would return them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is needed")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for writing sessions.

    pysqlite's own transaction handling is switched off so that Kura decides how each transaction
    begins: a deferred transaction that reads and then writes can fail at once with SQLITE_BUSY,
    ignoring the busy timeout, while BEGIN IMMEDIATE waits for the write lock up front.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get("kura_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A database error's text would otherwise quote the statement's parameters: a buyer's name, address and
    # phone in a log line, a job run's error or a traceback.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _sqlite_setup(engine)
        return engine
    # Every statement is planned with its parameters' values (no generic plans): a page of the import looks rows
    # up by a list of ids (`kura.sqlrows.among`), which an index serves only if the planner sees the list; a
    # generic plan, made once per connection while the tables were small, read whole tables for every page.
    connect_args = {"options": "-c plan_cache_mode=force_custom_plan"}
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args,
                         **kwargs)  # fmt: skip


def error_text(exc: BaseException) -> str:
    """An exception as a job run or a sync request keeps it. A database error is named by its types only: even
    with its parameters hidden its text can quote the row (PostgreSQL's "Failing row contains (…)")."""
    if isinstance(exc, StatementError):
        orig = getattr(exc, "orig", None)
        return (f"{type(exc).__name__}" + (f"/{type(orig).__name__}" if orig is not None else "")
                + ": the database refused a statement (its text is not kept: it can carry personal data)")
    return f"{type(exc).__name__}: {exc}"


def describe_exception(exc: BaseException, limit: int | None = None) -> str:
    """A traceback for a log or a job run. When a database error is in its chain only the frames and the error's
    types are kept (no exception text): the driver's message can quote a buyer's row."""
    if not has_database_error(exc):
        return "".join(traceback.format_exception(exc, limit=limit)).strip()
    frames = "".join(traceback.format_tb(exc.__traceback__, limit=limit))
    return f"Traceback (most recent call last):\n{frames}{error_text(exc)}".strip()


def has_database_error(exc: BaseException) -> bool:
    """True when a database error is anywhere in the exception's chain (cause or context)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StatementError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class WriterQueue:
    """First come, first served for the write transactions of one process (SQLite has one writer at a time).

    SQLite's own wait for its write lock is a sleep-and-retry, so a thread committing back to back takes the
    lock again before a waiting one wakes: under a stream of stock changes the stock pusher could not record its
    push for seconds. Here waiting writers take turns in arrival order; re-entry by the holder is allowed.
    Writers in other processes (the CLI beside a running server) still meet SQLite's busy timeout."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._next = self._serving = 0
        self._owner: int | None = None
        self._depth = 0
        self._timeout_s = timeout_s
        self._abandoned: set[int] = set()  # tickets whose waiter gave up: skipped when their turn comes

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket, self._next = self._next, self._next + 1
            if not self._cond.wait_for(lambda: self._serving == ticket, self._timeout_s):
                self._abandoned.add(ticket)
                raise TimeoutError(f"no turn to write within {self._timeout_s:.0f} s (database is busy)")
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            self._serving += 1
            while self._serving in self._abandoned:  # a waiter that gave up: its turn passes on
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


class Database:
    """One engine and its session factories; the web, the CLI and the jobs each hold one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.engine.execution_options(kura_readonly=True), expire_on_commit=False)
        self._writers = WriterQueue() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One use case, one write transaction: committed if the block ends, rolled back if it raises."""
        if self._writers is None:
            with self._write() as session, session.begin():
                yield session
            return
        self._writers.acquire()
        try:
            with self._write() as session, session.begin():
                yield session
        finally:
            self._writers.release()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session that does not queue behind writers on SQLite."""
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
