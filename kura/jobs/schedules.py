"""Per-shop schedules: "sync orders of shop 7 every 5 minutes" as rows with a `next_run_at`, and the dispatcher
that claims due rows and kicks their jobs.

Each due row is claimed with a compare-and-set UPDATE (`WHERE id = ? AND next_run_at = ?`), so two
dispatchers on one database never both claim one run. A row that fell far behind (the machine was off)
runs once and moves to the next slot after now: missed runs are not replayed one by one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from kura.db import Base, BigIntPK, Database, UTCDateTime, utcnow
from kura.jobs import registry
from kura.jobs.runs import JobRun, RunStatus

log = logging.getLogger(__name__)


class JobSchedule(Base):
    """How often one job kind runs for one shop (store_id None: once for the whole installation)."""

    __tablename__ = "job_schedules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    interval_s: Mapped[int] = mapped_column()
    next_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(default=True)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("kind", "store_id"),
        # NULLs are distinct in a UNIQUE constraint, so the installation-wide row needs its own index.
        Index(
            "uq_job_schedules_kind_global",
            "kind",
            unique=True,
            sqlite_where=store_id.is_(None),
            postgresql_where=store_id.is_(None),
        ),
        Index("ix_job_schedules_next_run_at", "next_run_at"),
    )


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _same_store(store_id: int | None) -> Any:
    return JobSchedule.store_id.is_(None) if store_id is None else JobSchedule.store_id == store_id


def ensure_schedule(
    session: Session,
    kind: str,
    store_id: int | None,
    interval_s: int,
    *,
    first_run_at: dt.datetime | None = None,
    enabled: bool | None = None,
) -> JobSchedule:
    """Creates the schedule (first run at first_run_at, default now) or updates its interval (and `enabled`
    if given); an existing row keeps its next_run_at. Safe to call on every start and concurrently."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    values: dict[str, Any] = {
        "kind": kind,
        "store_id": store_id,
        "interval_s": interval_s,
        "next_run_at": first_run_at or utcnow(),
        "enabled": True if enabled is None else enabled,
    }
    stmt = _insert(session)(JobSchedule).values(**values)
    changes: dict[str, Any] = {"interval_s": stmt.excluded.interval_s}
    if enabled is not None:
        changes["enabled"] = stmt.excluded.enabled
    if store_id is None:
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind"], index_where=JobSchedule.store_id.is_(None), set_=changes
        )
    else:
        stmt = stmt.on_conflict_do_update(index_elements=["kind", "store_id"], set_=changes)
    session.execute(stmt)
    return session.execute(
        select(JobSchedule).where(JobSchedule.kind == kind, _same_store(store_id)).execution_options(
            populate_existing=True
        )
    ).scalar_one()


def set_enabled(session: Session, kind: str, store_id: int | None, enabled: bool) -> None:
    """Pauses or resumes a schedule (e.g. a suspended shop's jobs pause)."""
    session.execute(update(JobSchedule).where(JobSchedule.kind == kind, _same_store(store_id)).values(enabled=enabled))


def next_slot(previous: dt.datetime, interval_s: int, now: dt.datetime) -> dt.datetime:
    """The slot after now on the schedule's own cadence; slots missed during downtime are skipped, not queued."""
    interval = dt.timedelta(seconds=interval_s)
    following = previous + interval
    if following > now:
        return following
    missed = (now - previous) // interval
    return previous + interval * (missed + 1)


@dataclass(frozen=True)
class Claim:
    schedule_id: int
    kind: str
    store_id: int | None


def claim_due(
    db: Database, now: dt.datetime | None = None, limit: int = 100, *, kinds: list[str] | None = None
) -> list[Claim]:
    """Claims up to `limit` due, enabled schedules (of `kinds`, if given) by moving their next_run_at on;
    returns only the rows this caller won."""
    now = now or utcnow()
    query = select(JobSchedule.id, JobSchedule.kind, JobSchedule.store_id, JobSchedule.interval_s,
                   JobSchedule.next_run_at).where(JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now)
    if kinds is not None:
        query = query.where(JobSchedule.kind.in_(kinds))
    query = query.order_by(JobSchedule.next_run_at, JobSchedule.id).limit(limit)
    claims: list[Claim] = []
    with db.transaction() as s:
        for row in s.execute(query).all():
            won = s.execute(
                update(JobSchedule)
                .where(JobSchedule.id == row.id, JobSchedule.next_run_at == row.next_run_at)
                .values(next_run_at=next_slot(row.next_run_at, row.interval_s, now))
                .returning(JobSchedule.id)
            ).scalar_one_or_none()
            if won is not None:
                claims.append(Claim(row.id, row.kind, row.store_id))
    return claims


def record_started(session: Session, kind: str, store_id: int | None, started_at: dt.datetime) -> None:
    session.execute(
        update(JobSchedule).where(JobSchedule.kind == kind, _same_store(store_id)).values(last_started_at=started_at)
    )


def record_finished(session: Session, kind: str, store_id: int | None, run: JobRun) -> None:
    """Copies a run's outcome onto its schedule, for "last synced" in the UI; skipped runs change nothing."""
    if run.status not in (RunStatus.done, RunStatus.failed):
        return
    session.execute(
        update(JobSchedule)
        .where(JobSchedule.kind == kind, _same_store(store_id))
        .values(last_finished_at=run.finished_at, last_status=run.status.value, last_error=run.error)
    )


def dispatch_due(db: Database, huey: Any, now: dt.datetime | None = None, limit: int = 500) -> list[Claim]:
    """Claims due schedules of the kinds this process knows and kicks their jobs; runs the sweepers too."""
    from kura.jobs.queue import enqueue

    now = now or utcnow()
    claims = claim_due(db, now, limit, kinds=registry.kinds())
    for claim in claims:
        try:
            enqueue(huey, claim.kind, claim.store_id)
        except Exception:  # the next slot re-sends it; a lost kick costs one interval, never data
            log.exception("could not enqueue %s for store %s", claim.kind, claim.store_id)
    for name, fn in registry.sweeps().items():
        try:
            for kind, store_id in set(fn(db, now)):
                enqueue(huey, kind, store_id)
        except Exception:
            log.exception("sweeper %s failed", name)
    return claims


class Dispatcher:
    """Calls dispatch_due every `interval_s` seconds in a thread until stopped; one bad tick never stops it."""

    def __init__(self, db: Database, huey: Any, interval_s: float = 5.0) -> None:
        self.db = db
        self.huey = huey
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[Claim]:
        try:
            return dispatch_due(self.db, self.huey)
        except Exception:
            log.exception("dispatcher tick failed")
            return []

    def run(self) -> None:
        """Ticks in the calling thread until stop() (the `kura scheduler` process)."""
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="kura-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
