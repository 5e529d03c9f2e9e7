"""Readiness and system health: is the database reachable and migrated, is the queue reachable.

`/readyz` answers 503 with the checks that failed; the dashboard's "System health" block shows the same
checks, the queue depth and the stores that need attention. Every check is a short read and never raises.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from kura.db import Database

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def not_ready(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "not_ready": self.not_ready,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


@dataclass(frozen=True)
class SystemHealth:
    """What the dashboard shows under "System health"."""

    checks: list[Check]
    queue_depth: int | None
    stores_needing_attention: int | None
    stores: list[str] = field(default_factory=list)  # names of stores needing attention (a few)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.stores_needing_attention


def _failure(exc: BaseException) -> str:
    # The exception's class and first line; never the URL (it may carry a password).
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def check_database(db: Database) -> Check:
    try:
        with db.reader() as s:
            s.execute(text("SELECT 1"))
        return Check("database", True, db.engine.dialect.name)
    except Exception as exc:
        return Check("database", False, f"cannot reach the database ({_failure(exc)})")


@lru_cache(maxsize=1)
def code_heads() -> tuple[str, ...]:
    """The migration revisions this code expects (Alembic heads)."""
    from alembic.script import ScriptDirectory

    from kura.migrate import alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def database_heads(db: Database) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect().execution_options(kura_readonly=True) as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def check_migrations(db: Database) -> Check:
    try:
        current, wanted = database_heads(db), code_heads()
    except Exception as exc:
        return Check("migrations", False, f"cannot read the schema version ({_failure(exc)})")
    if current != wanted:
        shown = ", ".join(current) or "none"
        return Check("migrations", False, f"database at {shown}, code needs {', '.join(wanted)}: run `kura db upgrade`")
    return Check("migrations", True, ", ".join(current))


def check_queue(queue_url: str) -> Check:
    """SQLite: the queue file (or, before first use, its directory) can be opened for writing. Redis: PING."""
    try:
        if queue_url.startswith("sqlite:"):
            return _check_sqlite_queue(queue_url.split("///", 1)[-1])
        if queue_url.startswith(("redis://", "rediss://", "unix://")):
            return _check_redis_queue(queue_url)
        return Check("queue", False, "unsupported KURA_QUEUE_URL: use sqlite:///path or redis://host:port/db")
    except Exception as exc:
        return Check("queue", False, f"cannot reach the queue ({_failure(exc)})")


def _check_sqlite_queue(path: str) -> Check:
    file = Path(path)
    if not file.exists():
        if file.parent.is_dir() and os.access(file.parent, os.W_OK):
            return Check("queue", True, "sqlite (created on first use)")
        return Check("queue", False, f"the queue file's directory {file.parent} is missing or not writable")
    conn = sqlite3.connect(f"file:{file}?mode=rw", uri=True, timeout=CHECK_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()
    return Check("queue", True, "sqlite")


def _check_redis_queue(url: str) -> Check:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()
    return Check("queue", True, "redis")


def readiness(db: Database, queue_url: str) -> Readiness:
    """Database reachable, migrations at head, queue reachable. Migrations are only asked when the DB answers."""
    database = check_database(db)
    migrations = check_migrations(db) if database.ok else Check("migrations", False, "database unreachable")
    return Readiness([database, migrations, check_queue(queue_url)])


def stores_needing_attention(db: Database) -> int:
    from kura.stores.models import Store, StoreStatus

    with db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(Store).where(Store.status == StoreStatus.needs_attention))
                   or 0)  # fmt: skip


def _attention_names(db: Database, limit: int = 5) -> list[str]:
    from kura.stores.models import Store, StoreStatus

    with db.reader() as s:
        stmt = select(Store.name).where(Store.status == StoreStatus.needs_attention).order_by(Store.name).limit(limit)
        return list(s.scalars(stmt))


def system_health(db: Database, queue_url: str, huey: Any = None) -> SystemHealth:
    """The readiness checks plus queue depth and stores needing attention, for the dashboard."""
    checks = readiness(db, queue_url).checks
    depth: int | None = None
    if huey is not None and checks[-1].ok:
        try:
            depth = int(huey.pending_count())
        except Exception as exc:
            log.warning("queue depth unreadable: %s", type(exc).__name__)
    attention: int | None = None
    names: list[str] = []
    if checks[0].ok:
        try:
            attention = stores_needing_attention(db)
            names = _attention_names(db) if attention else []
        except Exception as exc:
            log.warning("stores needing attention unreadable: %s", type(exc).__name__)
    return SystemHealth(checks, depth, attention, names)
