"""Leases on SQLite and PostgreSQL: acquire, blocked, renew by owner only, takeover after expiry, races."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select

from kura.db import Database, utcnow
from kura.jobs.leases import Lease, LeaseHeld, LeaseLost, lease, release, renew, try_acquire


def acquire(db: Database, name: str, owner: str, ttl: float = 60, now: dt.datetime | None = None) -> bool:
    with db.transaction() as s:
        return try_acquire(s, name, owner, ttl, now=now)


def holder(db: Database, name: str) -> str | None:
    with db.reader() as s:
        return s.scalar(select(Lease.owner).where(Lease.name == name))


def test_first_owner_acquires_a_free_lease(db: Database) -> None:
    assert acquire(db, "orders:7", "a")
    assert holder(db, "orders:7") == "a"


def test_second_owner_is_blocked_while_the_lease_is_live(db: Database) -> None:
    assert acquire(db, "orders:7", "a")
    assert not acquire(db, "orders:7", "b")
    assert holder(db, "orders:7") == "a"


def test_leases_of_different_names_do_not_block_each_other(db: Database) -> None:
    assert acquire(db, "orders:7", "a")
    assert acquire(db, "orders:8", "b")
    assert acquire(db, "products:7", "c")


def test_the_owner_may_acquire_again_and_extends_its_lease(db: Database) -> None:
    now = utcnow()
    assert acquire(db, "orders:7", "a", ttl=10, now=now)
    assert acquire(db, "orders:7", "a", ttl=10, now=now + dt.timedelta(seconds=5))
    with db.reader() as s:
        assert s.get_one(Lease, "orders:7").expires_at == now + dt.timedelta(seconds=15)


def test_only_the_owner_can_renew(db: Database) -> None:
    now = utcnow()
    assert acquire(db, "orders:7", "a", ttl=10, now=now)
    later = now + dt.timedelta(seconds=8)
    with db.transaction() as s:
        assert not renew(s, "orders:7", "b", 10, now=later)
        assert renew(s, "orders:7", "a", 10, now=later)
    with db.reader() as s:
        row = s.get_one(Lease, "orders:7")
    assert (row.owner, row.expires_at, row.renewed_at) == ("a", later + dt.timedelta(seconds=10), later)


def test_another_owner_takes_over_after_expiry(db: Database) -> None:
    now = utcnow()
    assert acquire(db, "orders:7", "a", ttl=10, now=now)
    assert not acquire(db, "orders:7", "b", ttl=10, now=now + dt.timedelta(seconds=9))
    assert acquire(db, "orders:7", "b", ttl=10, now=now + dt.timedelta(seconds=10))
    assert holder(db, "orders:7") == "b"
    with db.transaction() as s:
        assert not renew(s, "orders:7", "a", 10), "the old owner must not get its lease back by renewing"


def test_release_frees_the_lease_but_only_for_its_owner(db: Database) -> None:
    assert acquire(db, "orders:7", "a")
    with db.transaction() as s:
        assert not release(s, "orders:7", "b")
    assert holder(db, "orders:7") == "a"
    with db.transaction() as s:
        assert release(s, "orders:7", "a")
    assert acquire(db, "orders:7", "b")


def test_two_threads_racing_for_a_free_lease_exactly_one_wins(db: Database) -> None:
    contenders = 8
    start = threading.Barrier(contenders)
    results: dict[str, bool] = {}

    def contend(owner: str) -> None:
        start.wait()
        results[owner] = acquire(db, "orders:7", owner)

    threads = [threading.Thread(target=contend, args=(f"owner-{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    winners = [owner for owner, won in results.items() if won]
    assert len(results) == contenders
    assert len(winners) == 1
    assert holder(db, "orders:7") == winners[0]


def test_two_threads_racing_for_an_expired_lease_exactly_one_takes_it_over(db: Database) -> None:
    assert acquire(db, "orders:7", "crashed", ttl=1, now=utcnow() - dt.timedelta(seconds=5))
    start = threading.Barrier(2)
    results: dict[str, bool] = {}

    def contend(owner: str) -> None:
        start.wait()
        results[owner] = acquire(db, "orders:7", owner)

    threads = [threading.Thread(target=contend, args=(o,)) for o in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results.values()) == [False, True]


def test_lease_context_blocks_a_second_holder_and_releases_when_the_block_raises(db: Database) -> None:
    with pytest.raises(RuntimeError), lease(db, "orders:7", 60):
        with pytest.raises(LeaseHeld), lease(db, "orders:7", 60):
            pass
        raise RuntimeError("the sync failed")
    assert holder(db, "orders:7") is None


def test_background_renewal_keeps_a_long_job_s_lease(db: Database) -> None:
    with lease(db, "orders:7", ttl=0.6, renew_every=0.1) as held:
        time.sleep(1.0)
        assert not acquire(db, "orders:7", "intruder"), "the lease expired although its holder was alive"
        held.check()
    assert holder(db, "orders:7") is None


def test_renewing_a_lease_taken_over_after_expiry_raises_lease_lost(db: Database) -> None:
    with lease(db, "orders:7", ttl=5, renew_every=0) as held:
        assert acquire(db, "orders:7", "usurper", now=utcnow() + dt.timedelta(seconds=6))
        with pytest.raises(LeaseLost):
            held.renew()
        with pytest.raises(LeaseLost):
            held.check()
    assert holder(db, "orders:7") == "usurper", "leaving the block must not release someone else's lease"
