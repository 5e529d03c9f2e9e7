"""Runs a dead worker left "running" are found by the dispatcher's sweeper, marked failed and kicked again;
live runs (lease held) and finished runs are never touched. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from kura.db import Database, utcnow
from kura.jobs import leases, runs
from kura.jobs.runs import JobRun, RunStatus, lease_name, start_run


@pytest.fixture(autouse=True)
def _sweep_every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "ABANDONED_SWEEP_EVERY_S", 0.0)


def running(db: Database, kind: str, store_id: int | None, started: dt.datetime) -> int:
    with db.transaction() as s:
        run = start_run(s, kind, store_id)
        run.started_at = started
        return run.id


def status(db: Database, run_id: int) -> RunStatus:
    with db.reader() as s:
        return s.scalars(select(JobRun.status).where(JobRun.id == run_id)).one()


def hold(db: Database, kind: str, store_id: int | None, ttl: float, now: dt.datetime) -> None:
    with db.transaction() as s:
        assert leases.try_acquire(s, lease_name(kind, store_id), "worker", ttl, now=now)


def test_a_running_run_whose_lease_expired_is_failed_and_its_job_kicked_again(db: Database) -> None:
    now = utcnow()
    dead = running(db, "test.import", 7, now - dt.timedelta(minutes=5))
    hold(db, "test.import", 7, ttl=10, now=now - dt.timedelta(minutes=5))  # expired long ago
    assert runs.sweep_abandoned(db, now) == [("test.import", 7)]
    assert status(db, dead) == RunStatus.failed
    assert runs.sweep_abandoned(db, now) == []  # once


def test_a_running_run_with_a_live_lease_is_left_alone(db: Database) -> None:
    now = utcnow()
    live = running(db, "test.import", 7, now - dt.timedelta(minutes=5))
    hold(db, "test.import", 7, ttl=60, now=now)
    global_live = running(db, "test.cleanup", None, now - dt.timedelta(minutes=5))
    hold(db, "test.cleanup", None, ttl=60, now=now)
    assert runs.sweep_abandoned(db, now) == []
    assert status(db, live) == status(db, global_live) == RunStatus.running


def test_a_running_run_overtaken_by_a_later_run_of_its_lease_is_abandoned(db: Database) -> None:
    now = utcnow()
    old = running(db, "test.import", 7, now - dt.timedelta(minutes=5))
    new = running(db, "test.import", 7, now - dt.timedelta(minutes=1))
    hold(db, "test.import", 7, ttl=60, now=now)  # the new run's lease
    other_store = running(db, "test.import", 8, now - dt.timedelta(minutes=5))
    hold(db, "test.import", 8, ttl=60, now=now)
    assert runs.sweep_abandoned(db, now) == [("test.import", 7)]
    assert (status(db, old), status(db, new), status(db, other_store)) == (
        RunStatus.failed, RunStatus.running, RunStatus.running)  # fmt: skip


def test_a_run_that_just_started_gets_a_grace_period(db: Database) -> None:
    now = utcnow()
    young = running(db, "test.import", 7, now - dt.timedelta(seconds=1))
    assert runs.sweep_abandoned(db, now) == []
    assert status(db, young) == RunStatus.running
