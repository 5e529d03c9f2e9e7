"""Leases: "one sync of one kind per shop at a time", as a row with a TTL that works on SQLite and PostgreSQL.

A lease is won by an upsert that only overwrites an expired row (or one the same owner already holds), and
the winner is told by RETURNING, never by rowcount (psycopg reports -1 for INSERT … ON CONFLICT). A crashed
worker's lease simply expires; nobody has to clean it up.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import String, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from kura.db import Base, Database, UTCDateTime, utcnow

log = logging.getLogger(__name__)

TTL_CAP_S = float(os.environ.get("KURA_LEASE_TTL_S") or 0) or None
"""KURA_LEASE_TTL_S caps every lease's TTL: how long the work of a worker that died (SIGKILL, power loss)
waits before another worker may take it over. Live work renews every TTL/3, so a low cap costs only a few
more tiny writes. Unset: each job kind's own TTL (minutes)."""


class Lease(Base):
    """Who holds the named lease, and until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LeaseHeld(Exception):
    """Another owner holds a live lease of that name; try again later (or skip this run)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease {name!r} is held by another owner")
        self.name = name


class LeaseLost(Exception):
    """The lease expired and another owner took it; stop the work, someone else is doing it now."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease {name!r} was lost to another owner")
        self.name = name


def new_owner() -> str:
    """A unique owner id: every run holds its own lease, even two runs in one thread."""
    return uuid.uuid4().hex


def _ttl(ttl: float | dt.timedelta) -> dt.timedelta:
    ttl = ttl if isinstance(ttl, dt.timedelta) else dt.timedelta(seconds=ttl)
    return min(ttl, dt.timedelta(seconds=TTL_CAP_S)) if TTL_CAP_S else ttl


def try_acquire(
    session: Session, name: str, owner: str, ttl: float | dt.timedelta, *, now: dt.datetime | None = None
) -> bool:
    """Takes the lease if it is free, expired, or already ours; True if we hold it now."""
    now = now or utcnow()
    values = {"name": name, "owner": owner, "expires_at": now + _ttl(ttl), "renewed_at": now}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Lease).values(**values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at, "renewed_at": now},
        where=or_(Lease.expires_at <= now, Lease.owner == owner),
    ).returning(Lease.owner)
    return session.execute(upsert).scalar_one_or_none() == owner


def renew(
    session: Session, name: str, owner: str, ttl: float | dt.timedelta, *, now: dt.datetime | None = None
) -> bool:
    """Extends our lease; False if it is not ours any more (another owner took it after it expired)."""
    now = now or utcnow()
    stmt = (
        update(Lease)
        .where(Lease.name == name, Lease.owner == owner)
        .values(expires_at=now + _ttl(ttl), renewed_at=now)
        .returning(Lease.name)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def release(session: Session, name: str, owner: str) -> bool:
    """Gives the lease back at once; False if it was not ours (expired and taken, or never held)."""
    stmt = delete(Lease).where(Lease.name == name, Lease.owner == owner).returning(Lease.name)
    return session.execute(stmt).scalar_one_or_none() is not None


class HeldLease:
    """A lease this process holds: renew it on demand, or let the background renewer do it."""

    def __init__(self, db: Database, name: str, owner: str, ttl: float | dt.timedelta) -> None:
        self.db = db
        self.name = name
        self.owner = owner
        self.ttl = _ttl(ttl)
        self.lost = False
        self._lock = threading.Lock()

    def renew(self) -> None:
        """Extends the lease by its TTL; raises LeaseLost if another owner has it now."""
        with self._lock:
            if not self.lost:
                with self.db.transaction() as s:
                    self.lost = not renew(s, self.name, self.owner, self.ttl)
        if self.lost:
            raise LeaseLost(self.name)

    def check(self) -> None:
        """Raises LeaseLost if a renewal found the lease taken; cheap, no database round trip."""
        if self.lost:
            raise LeaseLost(self.name)


def _renew_until(held: HeldLease, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            held.renew()
        except LeaseLost:
            log.warning("lease %s lost while its work was still running", held.name)
            return
        except Exception:  # a database hiccup: the next tick tries again, the TTL leaves room for it
            log.exception("could not renew lease %s", held.name)


@contextmanager
def lease(
    db: Database,
    name: str,
    ttl: float | dt.timedelta,
    *,
    owner: str | None = None,
    renew_every: float | None = None,
) -> Iterator[HeldLease]:
    """Holds the lease for the block: raises LeaseHeld if it is taken; renews every TTL/3 in the background
    (renew_every=0 turns that off; call `renew()` yourself); releases it when the block ends, however it ends."""
    held = HeldLease(db, name, owner or new_owner(), ttl)
    with db.transaction() as s:
        if not try_acquire(s, name, held.owner, held.ttl):
            raise LeaseHeld(name)
    every = held.ttl.total_seconds() / 3 if renew_every is None else renew_every
    stop = threading.Event()
    renewer = None
    if every > 0:
        renewer = threading.Thread(target=_renew_until, args=(held, stop, every), name=f"lease:{name}", daemon=True)
        renewer.start()
    try:
        yield held
    finally:
        stop.set()
        if renewer is not None:
            renewer.join()
        with held._lock, db.transaction() as s:
            release(s, name, held.owner)
