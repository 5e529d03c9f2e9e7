"""The outbox: "this (store, kind, key) changed and must be pushed", written in the same transaction as the change.

Rule 2 of DESIGN.md: queue intents, not values. `mark_dirty` upserts one row per (store_id, kind, key) and kicks
the kind's job after the commit; the pusher `claim`s due rows, computes what to send at that moment, and then
`complete`s or `fail`s each row (with exponential backoff). A row marked again while it was being pushed has
a higher `generation`, so `complete` leaves it for the next run: a change made during a push is never lost.
A sweeper re-kicks rows whose kick was lost or whose backoff has expired.

Each outbox kind names the job kind that pushes it: `register_kind("price", "rakuten.prices")`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, String, Table, Text, UniqueConstraint, and_, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from kura.db import Base, BigIntPK, Database, UTCDateTime, utcnow
from kura.jobs import registry
from kura.sqlrows import among, insert_rows

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(seconds=60)  # a due row nobody picked up for this long lost its kick
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0
ERROR_TEXT_MAX = 2000


class OutboxRow(Base):
    """One pending push: `key` says what (a product id, a SKU), `kind` says which push (price, listing, stock)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("store_id", "kind", "key"),
        Index("ix_outbox_kind_next_attempt_at", "kind", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    dirty_since: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # the oldest change not yet pushed
    generation: Mapped[int] = mapped_column(default=1)  # +1 on every mark; complete() only clears the one it read
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Claimed:
    """A due row as a pusher read it; hand it back to complete() or fail()."""

    id: int
    store_id: int
    kind: str
    key: str
    generation: int
    attempts: int
    last_error: str | None = None  # why the last push failed (a pusher may treat a refused record apart)


_job_for_kind: dict[str, str] = {}


def register_kind(kind: str, job_kind: str) -> None:
    """Rows of `kind` are pushed by the job `job_kind` (registered with @job_kind)."""
    _job_for_kind[kind] = job_kind


def job_for(kind: str) -> str:
    try:
        return _job_for_kind[kind]
    except KeyError:
        raise KeyError(f"outbox kind {kind!r} has no job; call outbox.register_kind({kind!r}, 'job.kind')") from None


def mark_dirty(session: Session, store_id: int, kind: str, keys: str | Iterable[str], *, kick: bool = True) -> None:
    """Marks (store_id, kind, key) for a push, inside the caller's transaction; the job is kicked after commit.

    Marking a row that is already pending makes it due now and bumps its generation (coalescing)."""
    from kura.jobs.queue import kick as kick_after_commit

    job = job_for(kind)
    now = utcnow()
    rows = [
        {"store_id": store_id, "kind": kind, "key": key, "dirty_since": now, "generation": 1, "attempts": 0,
         "next_attempt_at": now}
        for key in ([keys] if isinstance(keys, str) else dict.fromkeys(keys))  # each key once, in its order
    ]  # fmt: skip
    if rows:  # one upsert for all keys, in their order, instead of one statement per key
        table = cast(Table, OutboxRow.__table__)
        insert_rows(session, table, rows, conflict=lambda stmt: stmt.on_conflict_do_update(
            index_elements=["store_id", "kind", "key"],
            set_={"generation": table.c.generation + 1, "next_attempt_at": now, "attempts": 0}))  # fmt: skip
    if kick:
        kick_after_commit(session, job, store_id)


def claim(db: Database, store_id: int, kind: str, *, limit: int = 400, now: dt.datetime | None = None) -> list[Claimed]:
    """The due rows of one store and kind, oldest first. The job's lease makes the pusher the only reader."""
    now = now or utcnow()
    with db.reader() as s:
        rows = s.execute(
            select(OutboxRow.id, OutboxRow.store_id, OutboxRow.kind, OutboxRow.key, OutboxRow.generation,
                   OutboxRow.attempts, OutboxRow.last_error)
            .where(OutboxRow.store_id == store_id, OutboxRow.kind == kind, OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.dirty_since, OutboxRow.id)
            .limit(limit)
        ).all()  # fmt: skip
    return [Claimed(*row) for row in rows]


def complete(session: Session, rows: Sequence[Claimed]) -> None:
    """Deletes the rows that were pushed, unless they were marked again since they were claimed: the rows are
    locked in key order (as mark_dirty's callers lock them) and read, then those still at their claimed
    generation are deleted — two statements per 500 rows instead of one per row."""
    claimed = {row.id: row.generation for row in rows}
    ordered = [row.id for row in sorted(rows, key=lambda r: r.key)]
    done: list[int] = []
    for i in range(0, len(ordered), 500):
        locked = session.execute(
            select(OutboxRow.id, OutboxRow.generation).where(among(OutboxRow.id, ordered[i : i + 500], session))
            .order_by(OutboxRow.key).with_for_update()
        )  # fmt: skip
        done.extend(row_id for row_id, generation in locked if generation == claimed[row_id])
    for i in range(0, len(done), 500):
        session.execute(delete(OutboxRow).where(among(OutboxRow.id, done[i : i + 500], session)))


def backoff(attempts: int, rng: random.Random | None = None) -> dt.timedelta:
    """30 s, 60 s, 120 s … up to an hour, with ±20 % jitter so a shop's failures do not retry in lockstep."""
    seconds = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0))
    return dt.timedelta(seconds=seconds * (rng or random).uniform(0.8, 1.2))


def fail(session: Session, row: Claimed, error: str, *, now: dt.datetime | None = None) -> None:
    """Records a failed push and schedules the next try; a row marked again meanwhile stays due now."""
    now = now or utcnow()
    attempts = row.attempts + 1
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row.id, OutboxRow.generation == row.generation)
        .values(attempts=attempts, last_error=error[:ERROR_TEXT_MAX], next_attempt_at=now + backoff(attempts))
    )
    session.execute(
        update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.generation != row.generation)
        .values(last_error=error[:ERROR_TEXT_MAX])
    )  # fmt: skip


def drop(session: Session, store_id: int, kind: str, keys: Iterable[str]) -> None:
    """Forgets pending pushes (e.g. the listing was deleted, so its price has nowhere to go)."""
    wanted = list(keys)
    if wanted:
        session.execute(
            delete(OutboxRow).where(OutboxRow.store_id == store_id, OutboxRow.kind == kind, OutboxRow.key.in_(wanted))
        )


def pending(session: Session, store_id: int | None = None, kind: str | None = None) -> list[OutboxRow]:
    """Rows waiting to be pushed, for the UI and tests."""
    stmt = select(OutboxRow).order_by(OutboxRow.id)
    if store_id is not None:
        stmt = stmt.where(OutboxRow.store_id == store_id)
    if kind is not None:
        stmt = stmt.where(OutboxRow.kind == kind)
    return list(session.scalars(stmt))


@registry.sweep("outbox")
def sweep_outbox(db: Database, now: dt.datetime) -> list[tuple[str, int | None]]:
    """(job, store) kicks for rows whose kick was lost (due and untouched for STALE_AFTER) or whose backoff ended."""
    kinds = list(_job_for_kind)
    if not kinds:
        return []
    with db.reader() as s:
        rows = s.execute(
            select(OutboxRow.kind, OutboxRow.store_id)
            .where(
                OutboxRow.kind.in_(kinds),
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.attempts > 0, and_(OutboxRow.next_attempt_at <= now - STALE_AFTER)),
            )
            .distinct()
        ).all()
    return [(job_for(kind), store_id) for kind, store_id in rows]
