"""run_job: one run per (kind, store) at a time, progress visible while it runs, outcomes recorded."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from kura.db import Database, utcnow
from kura.jobs.leases import Lease, try_acquire
from kura.jobs.registry import Progress
from kura.jobs.runs import JobRun, RunStatus, queue_run, run_job
from kura.jobs.schedules import JobSchedule, ensure_schedule


def runs(db: Database) -> list[JobRun]:
    with db.reader() as s:
        return list(s.scalars(select(JobRun).order_by(JobRun.id)))


def leases(db: Database) -> list[str]:
    with db.reader() as s:
        return list(s.scalars(select(Lease.name)))


def test_a_run_records_progress_counts_and_its_outcome_on_the_schedule(db: Database) -> None:
    with db.transaction() as s:
        ensure_schedule(s, "orders", 7, 300)

    def sync(store_id: int | None, progress: Progress) -> dict[str, int]:
        for done in range(1, 4):
            progress(done, 3)
        return {"imported": 3, "store": store_id or 0}

    run = run_job(db, "orders", 7, sync)

    [stored] = runs(db)
    assert stored.id == run.id
    assert (stored.status, stored.progress_done, stored.progress_total) == (RunStatus.done, 3, 3)
    assert stored.counts == {"imported": 3, "store": 7}
    assert stored.started_at is not None and stored.finished_at is not None
    assert stored.started_at <= stored.finished_at
    with db.reader() as s:
        sched = s.scalars(select(JobSchedule)).one()
    assert (sched.last_status, sched.last_finished_at) == ("done", stored.finished_at)
    assert leases(db) == [], "the lease is released when the run ends"


def test_progress_and_the_running_state_are_visible_to_readers_while_the_job_works(db: Database) -> None:
    seen: dict[str, Any] = {}

    def sync(store_id: int | None, progress: Progress) -> None:
        progress(5, 10)
        with db.reader() as s:
            run = s.scalars(select(JobRun)).one()
            seen.update(status=run.status, done=run.progress_done, total=run.progress_total)
            seen["lease"] = list(s.scalars(select(Lease.name)))

    run_job(db, "orders", 7, sync)
    assert seen == {"status": RunStatus.running, "done": 5, "total": 10, "lease": ["orders:7"]}


def test_the_job_s_work_runs_outside_any_write_transaction(db: Database) -> None:
    """Another writer must get through while the job does its (network) work: no write lock is held."""
    wrote = threading.Event()

    def other_writer() -> None:
        with db.transaction() as s:
            try_acquire(s, "unrelated", "someone", 60)
        wrote.set()

    def sync(store_id: int | None, progress: Progress) -> None:
        writer = threading.Thread(target=other_writer, daemon=True)
        writer.start()
        writer.join(3)
        progress(1, 1)

    run_job(db, "orders", 7, sync)
    assert wrote.is_set(), "a write from another thread waited for the job: a write transaction was held"


def test_a_second_run_while_the_first_holds_the_lease_is_recorded_as_skipped(db: Database) -> None:
    inside = threading.Event()
    finish = threading.Event()
    calls: list[int | None] = []

    def slow(store_id: int | None, progress: Progress) -> None:
        calls.append(store_id)
        inside.set()
        finish.wait(10)

    first = threading.Thread(target=run_job, args=(db, "orders", 7, slow))
    first.start()
    assert inside.wait(10)
    try:
        duplicate = run_job(db, "orders", 7, slow)
        other_store = run_job(db, "orders", 8, lambda store_id, progress: None)
    finally:
        finish.set()
        first.join(10)

    assert duplicate.status == RunStatus.skipped
    assert duplicate.error is not None and duplicate.error.startswith("skipped-locked")
    assert other_store.status == RunStatus.done
    assert calls == [7], "the skipped run must not call the job"
    assert sorted(r.status for r in runs(db)) == [RunStatus.done, RunStatus.done, RunStatus.skipped]


def test_a_run_whose_lease_holder_crashed_waits_for_expiry_then_runs(db: Database) -> None:
    with db.transaction() as s:
        try_acquire(s, "orders:7", "crashed-worker", 60, now=utcnow() - dt.timedelta(minutes=5))
    assert run_job(db, "orders", 7, lambda store_id, progress: None).status == RunStatus.done


def test_a_failing_job_is_recorded_as_failed_releases_its_lease_and_re_raises(db: Database) -> None:
    with db.transaction() as s:
        ensure_schedule(s, "orders", 7, 300)

    def broken(store_id: int | None, progress: Progress) -> None:
        progress(2, 10)
        raise ConnectionError("RMS timed out")

    with pytest.raises(ConnectionError):
        run_job(db, "orders", 7, broken)

    [run] = runs(db)
    assert run.status == RunStatus.failed
    assert run.error is not None and "RMS timed out" in run.error
    assert run.progress_done == 2 and run.finished_at is not None
    assert leases(db) == []
    with db.reader() as s:
        sched = s.scalars(select(JobSchedule)).one()
    assert sched.last_status == "failed" and "RMS timed out" in (sched.last_error or "")


def test_a_queued_run_is_filled_in_by_the_job_that_picks_it_up(db: Database) -> None:
    with db.transaction() as s:
        queued = queue_run(s, "products", 3)
    assert runs(db)[0].status == RunStatus.queued

    run_job(db, "products", 3, lambda store_id, progress: {"items": 1}, run_id=queued.id)

    [run] = runs(db)
    assert (run.id, run.status, run.counts) == (queued.id, RunStatus.done, {"items": 1})


def test_progress_writes_are_throttled_but_the_last_value_always_lands(db: Database) -> None:
    def chatty(store_id: int | None, progress: Progress) -> None:
        for done in range(1, 501):
            progress(done)

    run_job(db, "orders", 7, chatty, progress_every_s=60)
    [run] = runs(db)
    assert (run.progress_done, run.progress_total) == (500, None)


def test_a_job_whose_store_is_gone_is_skipped_not_failed(db: Database) -> None:
    from kura.errors import StoreGone

    def sync(store_id: int | None, progress: Progress) -> None:
        raise StoreGone(f"No store with id {store_id}.")

    run = run_job(db, "test.gone", 99, sync)
    assert run.status == RunStatus.skipped and run.error == "skipped-no-store: No store with id 99."
