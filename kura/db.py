"""Engines, sessions and column types shared by every table, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, bindparam, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

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


# A table's planner statistics are taken again by `Database.refresh_statistics` once the rows changed since they
# were taken exceed STATS_MIN_CHANGES + STATS_GROWTH × the rows they counted (autovacuum's own threshold is 50 +
# 10 %, but it looks only every autovacuum_naptime, a minute by default); a process looks at most every
# STATS_CHECK_S seconds.
STATS_MIN_CHANGES = 1000
STATS_GROWTH = 1.0
STATS_CHECK_S = 2.0

_STALE_TABLES = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.relname IN :names "
    "AND s.n_mod_since_analyze > :least + :growth * greatest(c.reltuples, 0) "
    "AND (pg_has_role(c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) "
    "ORDER BY s.relname"
).bindparams(bindparam("names", expanding=True))


class Database:
    """One engine and its session factories; the web, the CLI and the jobs each hold one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.engine.execution_options(kura_readonly=True), expire_on_commit=False)
        self._writers = WriterQueue() if self.is_sqlite else None
        self._stats_lock = threading.Lock()
        self._stats_due = 0.0

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

    def refresh_statistics(self, tables: Sequence[str]) -> list[str]:
        """PostgreSQL: ANALYZEs those of `tables` whose rows changed well beyond what their statistics counted;
        returns their names. Writers that grow tables fast (the product import) call it between transactions.

        Why: a fresh database's tables have no statistics, and until autovacuum's next round (up to a minute
        away) the planner guesses. It then takes a page's lookup by a list of ids or codes (`kura.sqlrows.among`)
        to match most of the table and reads the whole table for it: on a first import into an empty database
        each page's lookups grew with the table, from 1 ms to 20 ms and more within 40 s. Statistics taken once
        the table has real rows stay good as it grows (the planner scales them by the table's current size), so
        doubling is the threshold. SKIP_LOCKED: if another process is analysing a table, this one does not
        wait (and the table is named here all the same). Tables Kura's role does not own (nor is it a
        superuser) are left to autovacuum. SQLite: nothing (its planner prefers an index without statistics)."""
        if self.is_sqlite:
            return []
        with self._stats_lock:
            now = time.monotonic()
            if now < self._stats_due:
                return []
            self._stats_due = now + STATS_CHECK_S
        try:
            with self.engine.connect() as conn:
                stale = list(conn.scalars(_STALE_TABLES, {"names": list(tables), "least": STATS_MIN_CHANGES,
                                                          "growth": STATS_GROWTH}))  # fmt: skip
                for name in stale:
                    conn.execute(text(f"ANALYZE (SKIP_LOCKED) {conn.dialect.identifier_preparer.quote(name)}"))
                conn.commit()
        except SQLAlchemyError as exc:  # statistics are an optimisation: the caller's work goes on without them
            log.warning("could not take planner statistics of %s: %s", ", ".join(tables), error_text(exc))
            return []
        if stale:
            log.debug("statistics taken again: %s", ", ".join(stale))
        return stale

    def dispose(self) -> None:
        self.engine.dispose()
