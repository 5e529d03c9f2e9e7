"""Kicks coalesce: of the plain kicks of one (kind, store) queued one behind the other, only the latest runs; the
earlier ones are recorded as skipped. The chaos test found why: under load every stale kick of a burst ran (a
stock pusher with nothing to push lingered for each), the backlog grew and order polls waited behind it.

On a SQLite queue, no service needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kura.db import Database
from kura.jobs import registry
from kura.jobs.queue import SUPERSEDED, enqueue, make_huey
from kura.jobs.registry import Progress
from kura.jobs.runs import JobRun, RunStatus
from kura.jobs.schedules import dispatch_due, ensure_schedule

KIND = "test.coalesce"


@pytest.fixture
def huey(tmp_path: Path) -> Any:
    return make_huey(f"sqlite:///{tmp_path / 'queue.db'}", name=f"coalesce-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def calls(db: Database) -> Iterator[list[int | None]]:
    seen: list[int | None] = []

    def job(store_id: int | None, progress: Progress) -> dict[str, int]:
        seen.append(store_id)
        return {"n": len(seen)}

    registry.bind_database(db)
    registry.job_kind(KIND, lease_ttl_s=30)(job)
    yield seen
    registry.unregister(KIND)
    registry.bind_database(None)


def consume(huey: Any) -> int:
    """Runs every queued message in queue order, as a consumer thread would; returns how many there were."""
    n = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        n += 1
    return n


def runs(db: Database) -> list[tuple[int | None, RunStatus, str | None]]:
    with db.reader() as s:
        rows = s.execute(select(JobRun.store_id, JobRun.status, JobRun.error).where(JobRun.kind == KIND)
                         .order_by(JobRun.id)).all()  # fmt: skip
    return [(store_id, status, error) for store_id, status, error in rows]


def test_of_queued_kicks_of_one_job_only_the_latest_runs(db: Database, huey: Any, calls: list[int | None]) -> None:
    for store_id in (7, 8, 7, 7):
        enqueue(huey, KIND, store_id)
    assert consume(huey) == 4
    assert sorted(calls, key=str) == [7, 8], "one run per store: the earlier kicks of store 7 were stale"
    assert sorted(runs(db), key=str) == sorted([(7, RunStatus.skipped, SUPERSEDED), (8, RunStatus.done, None),
                                                (7, RunStatus.skipped, SUPERSEDED), (7, RunStatus.done, None)],
                                               key=str)  # fmt: skip


def test_a_kick_sent_after_the_latest_ran_runs_again(db: Database, huey: Any, calls: list[int | None]) -> None:
    enqueue(huey, KIND, 7)
    consume(huey)
    enqueue(huey, KIND, 7)  # a change after the run: its kick must not be taken for a stale one
    consume(huey)
    assert calls == [7, 7]


def test_a_kick_with_a_run_id_always_runs_and_supersedes_nothing(
    db: Database, huey: Any, calls: list[int | None]
) -> None:
    enqueue(huey, KIND, 7)
    enqueue(huey, KIND, 7, run_id=12345)
    consume(huey)
    assert calls == [7, 7]


def test_a_kick_that_could_not_be_queued_supersedes_nothing(
    db: Database, huey: Any, calls: list[int | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue(huey, KIND, 7)
    real = huey.storage.enqueue

    def down(data: bytes, priority: Any = None) -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(huey.storage, "enqueue", down)
    with pytest.raises(ConnectionError):
        enqueue(huey, KIND, 7)
    monkeypatch.setattr(huey.storage, "enqueue", real)
    consume(huey)
    assert calls == [7], "the queued kick is the latest one that exists: it must run"


def test_a_kick_runs_when_the_record_of_the_latest_is_gone(db: Database, huey: Any, calls: list[int | None]) -> None:
    enqueue(huey, KIND, 7)
    enqueue(huey, KIND, 7)
    huey.storage.flush_results()  # e.g. a restarted Redis: no record, so nothing is dropped
    consume(huey)
    assert calls == [7, 7]


def test_scheduled_kicks_coalesce_too(db: Database, huey: Any, calls: list[int | None]) -> None:
    with db.transaction() as s:
        ensure_schedule(s, KIND, 7, 1)
    dispatch_due(db, huey)
    enqueue(huey, KIND, 7)
    consume(huey)
    assert calls == [7]


def test_an_interrupted_kick_is_sent_again_as_the_latest(db: Database, huey: Any, calls: list[int | None]) -> None:
    """A graceful stop re-queues the kick it cut short; a kick queued meanwhile may have been skipped on the
    lease the interrupted run held, so the re-queued one is the one that must run."""
    from huey.signals import SIGNAL_INTERRUPTED

    enqueue(huey, KIND, 7)
    interrupted = huey.dequeue()
    enqueue(huey, KIND, 7)

    huey._emit(SIGNAL_INTERRUPTED, interrupted)  # what the consumer does on a graceful stop
    assert consume(huey) == 2
    assert calls == [7]
    assert [status for _, status, _ in runs(db)] == [RunStatus.skipped, RunStatus.done]


def test_an_unknown_kind_is_refused_even_when_superseded(db: Database, huey: Any, calls: list[int | None]) -> None:
    enqueue(huey, "no.such.kind", 7)
    enqueue(huey, "no.such.kind", 7)
    task = huey.dequeue()
    with pytest.raises(KeyError, match="unknown job kind"):
        task.execute()
