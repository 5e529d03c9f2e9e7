"""Schedules and the dispatcher: claims are compare-and-set, catch-up runs once, each due row is sent once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from kura.db import Database, utcnow
from kura.jobs import registry
from kura.jobs.schedules import (
    Dispatcher,
    JobSchedule,
    claim_due,
    dispatch_due,
    ensure_schedule,
    next_slot,
    set_enabled,
)
from tests.jobs.conftest import wait_until


def noop(store_id: int | None, progress: Any) -> None:
    return None


def schedule(db: Database, kind: str, store_id: int | None, interval_s: int, first_run_at: dt.datetime) -> int:
    with db.transaction() as s:
        return ensure_schedule(s, kind, store_id, interval_s, first_run_at=first_run_at).id


def next_run_at(db: Database, schedule_id: int) -> dt.datetime:
    with db.reader() as s:
        return s.get_one(JobSchedule, schedule_id).next_run_at


def test_ensure_schedule_twice_keeps_one_row_and_its_next_run_but_takes_the_new_interval(db: Database) -> None:
    first = utcnow() + dt.timedelta(minutes=3)
    sid = schedule(db, "orders", 7, 300, first)
    again = schedule(db, "orders", 7, 120, first + dt.timedelta(hours=1))
    with db.reader() as s:
        row = s.get_one(JobSchedule, sid)
        assert s.scalar(select(func.count()).select_from(JobSchedule)) == 1
    assert again == sid
    assert (row.interval_s, row.next_run_at) == (120, first)


def test_an_installation_wide_schedule_without_a_store_is_also_unique(db: Database) -> None:
    now = utcnow()
    assert schedule(db, "cleanup", None, 3600, now) == schedule(db, "cleanup", None, 600, now)
    assert schedule(db, "cleanup", 1, 600, now) != schedule(db, "cleanup", None, 600, now)


def test_claim_due_takes_only_due_enabled_rows_and_moves_them_on(db: Database) -> None:
    now = utcnow()
    due = schedule(db, "orders", 1, 300, now - dt.timedelta(seconds=1))
    schedule(db, "orders", 2, 300, now + dt.timedelta(seconds=60))
    paused = schedule(db, "orders", 3, 300, now - dt.timedelta(seconds=1))
    with db.transaction() as s:
        set_enabled(s, "orders", 3, False)

    claims = claim_due(db, now)

    assert [(c.schedule_id, c.kind, c.store_id) for c in claims] == [(due, "orders", 1)]
    assert next_run_at(db, due) == now - dt.timedelta(seconds=1) + dt.timedelta(seconds=300)
    assert next_run_at(db, paused) == now - dt.timedelta(seconds=1)
    assert claim_due(db, now) == [], "a claimed run must not be claimed again"


def test_runs_missed_during_downtime_run_once_then_the_cadence_resumes(db: Database) -> None:
    now = utcnow()
    sid = schedule(db, "orders", 7, 300, now - dt.timedelta(hours=2, seconds=10))

    assert len(claim_due(db, now)) == 1
    assert claim_due(db, now) == []
    following = next_run_at(db, sid)
    assert now < following <= now + dt.timedelta(seconds=300)
    assert following == now - dt.timedelta(seconds=10) + dt.timedelta(seconds=300), "keeps its own cadence"


def test_next_slot_skips_every_missed_slot() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert next_slot(start, 60, start + dt.timedelta(seconds=30)) == start + dt.timedelta(seconds=60)
    assert next_slot(start, 60, start + dt.timedelta(seconds=60)) == start + dt.timedelta(seconds=120)
    assert next_slot(start, 60, start + dt.timedelta(days=3, seconds=1)) == start + dt.timedelta(days=3, seconds=60)


def test_two_dispatchers_racing_never_both_claim_one_run(db: Database) -> None:
    now = utcnow()
    ids = [schedule(db, "orders", store, 300, now - dt.timedelta(seconds=store)) for store in range(1, 31)]
    start = threading.Barrier(4)
    claimed: list[list[int]] = []

    def dispatcher() -> None:
        start.wait()
        mine: list[int] = []
        for _ in range(5):
            mine += [c.schedule_id for c in claim_due(db, now, limit=10)]
        claimed.append(mine)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    every_claim = [sid for mine in claimed for sid in mine]
    assert len(claimed) == 4
    assert sorted(every_claim) == sorted(ids), "each due run claimed exactly once across dispatchers"


def test_dispatch_due_enqueues_each_claimed_row_once(
    db: Database, huey: Any, register_kind: Callable[..., None]
) -> None:
    register_kind("test.orders", noop)
    now = utcnow()
    for store in (1, 2, 3):
        schedule(db, "test.orders", store, 300, now - dt.timedelta(seconds=1))

    assert len(dispatch_due(db, huey, now)) == 3
    assert dispatch_due(db, huey, now) == []
    assert huey.pending_count() == 3
    sent = sorted(task.args for task in huey.pending())
    assert sent == [("test.orders", 1, None), ("test.orders", 2, None), ("test.orders", 3, None)]


def test_dispatch_leaves_kinds_this_process_does_not_know_for_one_that_does(
    db: Database, huey: Any, register_kind: Callable[..., None]
) -> None:
    now = utcnow()
    sid = schedule(db, "someone-elses.kind", 1, 300, now - dt.timedelta(seconds=1))
    assert dispatch_due(db, huey, now) == []
    assert huey.pending_count() == 0
    assert next_run_at(db, sid) == now - dt.timedelta(seconds=1)


def test_dispatch_sends_what_a_sweeper_finds(db: Database, huey: Any, register_kind: Callable[..., None]) -> None:
    register_kind("test.stock", noop)
    registry.sweep("test-outbox")(lambda db, now: [("test.stock", 4), ("test.stock", 4), ("test.stock", 5)])
    try:
        dispatch_due(db, huey)
    finally:
        registry._sweeps.pop("test-outbox")
    assert sorted(task.args for task in huey.pending()) == [("test.stock", 4, None), ("test.stock", 5, None)]


def test_the_dispatcher_thread_ticks_until_stopped_and_survives_a_failing_tick(
    db: Database, huey: Any, register_kind: Callable[..., None]
) -> None:
    register_kind("test.orders", noop)
    ticks: list[int] = []

    def flaky(db: Database, now: dt.datetime) -> list[tuple[str, int | None]]:
        ticks.append(1)
        if len(ticks) == 1:
            raise RuntimeError("database went away")
        return []

    registry.sweep("test-flaky")(flaky)
    dispatcher = Dispatcher(db, huey, interval_s=0.05)
    try:
        dispatcher.start()
        schedule(db, "test.orders", 9, 300, utcnow() - dt.timedelta(seconds=1))
        assert wait_until(lambda: huey.pending_count() == 1 and len(ticks) >= 3)
    finally:
        dispatcher.stop()
        registry._sweeps.pop("test-flaky")
    assert dispatcher._thread is not None and not dispatcher._thread.is_alive()
