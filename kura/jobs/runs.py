"""Job runs: one row per attempt of a job, with its progress and outcome, for the UI, the CLI and the logs.

`run_job` is the wrapper every job goes through: it takes the lease "{kind}:{store_id}" (or records the
run as skipped when another run holds it), records start, progress and finish in short transactions of
their own, and never keeps a write transaction open while the job does its network I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
import time
import traceback
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, String, Text, and_, cast, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from kura.db import Base, BigIntPK, Database, UTCDateTime, error_text, has_database_error, utcnow
from kura.errors import StoreGone
from kura.jobs.leases import Lease, LeaseHeld, lease
from kura.jobs.registry import Counts, JobFn, sweep
from kura.observability.logging import bind_run, log_context
from kura.observability.metrics import observe_job

log = logging.getLogger(__name__)

ERROR_TEXT_MAX = 4000
ABANDONED_GRACE = dt.timedelta(seconds=5)  # a run this young may not have its lease row visible yet
ABANDONED_SWEEP_EVERY_S = 10.0  # look at most this often per dispatcher (ix_job_runs_status_started_at serves it)
ABANDONED_ERROR = (
    "abandoned: the worker running this job stopped (killed or lost) and its lease expired; "
    "the job was sent again and carries on from where this run got to"
)


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    skipped = "skipped"


class JobRun(Base):
    """One run of one job kind for one shop (store_id None: a job that is not per shop)."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[RunStatus] = mapped_column(Enum(RunStatus, native_enum=False, length=20))
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None] = mapped_column()
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_job_runs_kind_store_id_id", "kind", "store_id", "id"),
        # The abandoned-run sweeper (every ABANDONED_SWEEP_EVERY_S per dispatcher): the runs 'running' since
        # before the grace, and for each a later start of its kind and store; without these it read the whole
        # table once per running run.
        Index("ix_job_runs_status_started_at", "status", "started_at"),
        Index("ix_job_runs_kind_store_id_started_at", "kind", "store_id", "started_at"),
    )

    @property
    def lease_name(self) -> str:
        return lease_name(self.kind, self.store_id)


def lease_name(kind: str, store_id: int | None) -> str:
    return f"{kind}:{store_id if store_id is not None else '-'}"


def queue_run(session: Session, kind: str, store_id: int | None) -> JobRun:
    """A run the UI can show at once ("queued"); pass its id along with the kick so the job fills it in."""
    run = JobRun(kind=kind, store_id=store_id, status=RunStatus.queued)
    session.add(run)
    session.flush()
    return run


def start_run(session: Session, kind: str, store_id: int | None, run_id: int | None = None) -> JobRun:
    """Marks the run running (a queued one, or a new one)."""
    run = session.get(JobRun, run_id) if run_id is not None else None
    if run is None:
        run = JobRun(kind=kind, store_id=store_id)
        session.add(run)
    run.status = RunStatus.running
    run.started_at = utcnow()
    session.flush()
    return run


def update_progress(session: Session, run_id: int, done: int, total: int | None = None) -> None:
    values: dict[str, Any] = {"progress_done": done}
    if total is not None:
        values["progress_total"] = total
    session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


def finish_run(
    session: Session,
    run_id: int,
    status: RunStatus,
    *,
    counts: Counts | None = None,
    error: str | None = None,
) -> JobRun:
    run = session.get_one(JobRun, run_id)
    run.status = status
    run.finished_at = utcnow()
    if counts is not None:
        run.counts = dict(counts)
    if error is not None:
        run.error = error[-ERROR_TEXT_MAX:]
    session.flush()
    return run


def skip_run(session: Session, kind: str, store_id: int | None, reason: str, run_id: int | None = None) -> JobRun:
    run = session.get(JobRun, run_id) if run_id is not None else None
    if run is None:
        run = JobRun(kind=kind, store_id=store_id)
        session.add(run)
    now = utcnow()
    run.status = RunStatus.skipped
    run.started_at = run.started_at or now
    run.finished_at = now
    run.error = reason
    session.flush()
    return run


class _ProgressWriter:
    """The progress(done, total) callback: writes at most every `every` seconds (and always the last value
    when the run finishes), each write its own tiny transaction."""

    def __init__(self, db: Database, run_id: int, every: float) -> None:
        self.db = db
        self.run_id = run_id
        self.every = every
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._pending: tuple[int, int | None] | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self._pending = (done, total)
            now = time.monotonic()
            if now - self._last_write < self.every and (total is None or done < total):
                return
            self._last_write = now
            self._write()

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        if self._pending is None:
            return
        done, total = self._pending
        self._pending = None
        with self.db.transaction() as s:
            update_progress(s, self.run_id, done, total)


def run_job(
    db: Database,
    kind: str,
    store_id: int | None,
    fn: JobFn,
    *,
    lease_ttl_s: float = 300.0,
    run_id: int | None = None,
    progress_every_s: float = 0.5,
) -> JobRun:
    """Runs fn(store_id, progress) under the lease "{kind}:{store_id}" and records the run.

    Returns the finished run (done, or skipped when another run holds the lease). If fn raises, the run
    is recorded as failed and the exception propagates, so the queue's retry policy can see it. Log lines
    written meanwhile carry store_id, job_kind and run_id; the run's duration goes to the job metrics.
    """
    started, outcome = time.monotonic(), RunStatus.failed.value
    with log_context(store_id=store_id, job_kind=kind, run_id=run_id):
        try:
            run = _run_job(db, kind, store_id, fn, lease_ttl_s, run_id, progress_every_s)
            outcome = run.status.value
            return run
        finally:
            observe_job(kind, outcome, time.monotonic() - started)


def _run_job(
    db: Database,
    kind: str,
    store_id: int | None,
    fn: JobFn,
    lease_ttl_s: float,
    run_id: int | None,
    progress_every_s: float,
) -> JobRun:
    from kura.jobs.schedules import record_finished, record_started

    name = lease_name(kind, store_id)
    try:
        with lease(db, name, lease_ttl_s):
            with db.transaction() as s:
                run = start_run(s, kind, store_id, run_id)
                record_started(s, kind, store_id, run.started_at or utcnow())
            bind_run(run.id)
            progress = _ProgressWriter(db, run.id, progress_every_s)
            try:
                counts = fn(store_id, progress)
            except StoreGone as exc:  # a kick that outlived its store: nothing to do, nothing to retry
                log.info("%s for store %s skipped: %s", kind, store_id, exc.message)
                with db.transaction() as s:
                    return finish_run(s, run.id, RunStatus.skipped, error=f"skipped-no-store: {exc.message}")
            except BaseException as exc:
                progress.flush()
                with db.transaction() as s:
                    failed = finish_run(s, run.id, RunStatus.failed, error=_describe(exc))
                    record_finished(s, kind, store_id, failed)
                raise
            progress.flush()
            with db.transaction() as s:
                done = finish_run(s, run.id, RunStatus.done, counts=counts)
                record_finished(s, kind, store_id, done)
            return done
    except LeaseHeld as exc:
        if exc.name != name:  # a lease fn itself wanted: fn's failure, already recorded above
            raise
        log.info("%s for store %s skipped: another run holds the lease", kind, store_id)
        with db.transaction() as s:
            return skip_run(s, kind, store_id, f"skipped-locked: another run holds the lease {name}", run_id)


def _describe(exc: BaseException) -> str:
    if has_database_error(exc):  # the frames, but no exception text: it can quote a buyer's row
        frames = "".join(traceback.format_tb(exc.__traceback__, limit=-8))
        return f"Traceback (most recent call last):\n{frames}{error_text(exc)}".strip()
    return "".join(traceback.format_exception(exc, limit=-8)).strip()


_last_abandoned_sweep = 0.0


@sweep("runs.abandoned")
def sweep_abandoned(db: Database, now: dt.datetime) -> list[tuple[str, int | None]]:
    """Runs a dead worker left "running": marked failed, and their job is kicked again for their store.

    A run is abandoned when no live lease carries its name (the worker died and the lease expired), or when
    a later run of the same kind and store has started (which needs that lease). One UPDATE decides it, so
    a run that finishes meanwhile (it writes its status before it releases the lease) is never touched.
    The product import saves its cursor with every page, so the kick resumes it where the dead run stopped.
    """
    global _last_abandoned_sweep
    if time.monotonic() - _last_abandoned_sweep < ABANDONED_SWEEP_EVERY_S:
        return []
    _last_abandoned_sweep = time.monotonic()
    later = aliased(JobRun)
    name = JobRun.kind + ":" + func.coalesce(cast(JobRun.store_id, String), "-")
    live_lease = exists(select(Lease.name).where(Lease.name == name, Lease.expires_at > now))

    def later_start(same_store: Any) -> Any:  # one seek in ix_job_runs_kind_store_id_started_at (no OR inside)
        return exists(
            select(later.id).where(
                later.kind == JobRun.kind,
                same_store,
                later.started_at > JobRun.started_at,
                later.status.in_([RunStatus.running, RunStatus.done, RunStatus.failed]),
            )
        )

    overtaken = or_(
        later_start(later.store_id == JobRun.store_id),
        and_(JobRun.store_id.is_(None), later_start(later.store_id.is_(None))),
    )
    stmt = (
        update(JobRun)
        .where(
            JobRun.status == RunStatus.running, JobRun.started_at < now - ABANDONED_GRACE, or_(~live_lease, overtaken)
        )
        .values(status=RunStatus.failed, finished_at=now, error=ABANDONED_ERROR)
        .returning(JobRun.id, JobRun.kind, JobRun.store_id)
        .execution_options(synchronize_session=False)
    )
    with db.transaction() as s:
        rows = s.execute(stmt).all()
    for run_id, kind, store_id in rows:
        log.warning("run %s (%s, store %s) was abandoned by its worker; sending the job again", run_id, kind, store_id)
    return [(kind, store_id) for _, kind, store_id in rows]
