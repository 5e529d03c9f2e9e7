"""kick(): a job is enqueued only after the transaction that asked for it commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kura.db import Database
from kura.jobs.leases import try_acquire
from kura.jobs.queue import kick


def noop(store_id: int | None, progress: Any) -> None:
    return None


@pytest.fixture(autouse=True)
def _stock_kind(register_kind: Callable[..., None]) -> None:
    register_kind("test.stock", noop)


def test_a_kick_is_sent_only_when_the_transaction_commits(db: Database, huey: Any) -> None:
    with db.transaction() as s:
        try_acquire(s, "some-change", "me", 60)
        kick(s, "test.stock", 7, huey=huey)
        assert huey.pending_count() == 0, "sent before commit: a worker could read the old data"
    assert [t.args for t in huey.pending()] == [("test.stock", 7, None)]


def test_a_rolled_back_transaction_kicks_nothing(db: Database, huey: Any) -> None:
    with pytest.raises(RuntimeError), db.transaction() as s:
        kick(s, "test.stock", 7, huey=huey)
        raise RuntimeError("the stock change was refused")
    assert huey.pending_count() == 0


def test_a_rollback_does_not_leave_the_kick_waiting_for_the_session_s_next_commit(db: Database, huey: Any) -> None:
    with db._write() as s:
        with s.begin():
            kick(s, "test.stock", 7, huey=huey)
            s.rollback()
        with s.begin():
            kick(s, "test.stock", 8, huey=huey)
    assert [t.args for t in huey.pending()] == [("test.stock", 8, None)]


def test_many_kicks_of_one_store_in_one_transaction_send_one_message(db: Database, huey: Any) -> None:
    with db.transaction() as s:
        for _ in range(5):
            kick(s, "test.stock", 7, huey=huey)
        kick(s, "test.stock", 8, huey=huey)
    assert sorted(t.args for t in huey.pending()) == [("test.stock", 7, None), ("test.stock", 8, None)]


def test_kicking_an_unknown_kind_fails_inside_the_transaction(db: Database, huey: Any) -> None:
    with pytest.raises(KeyError, match="unknown job kind"), db.transaction() as s:
        kick(s, "no.such.kind", 7, huey=huey)


def test_a_queue_that_is_down_at_commit_loses_the_kick_but_not_the_commit(db: Database) -> None:
    class DownQueue:
        def kura_run(self, *args: Any) -> None:
            raise ConnectionError("redis is down")

    with db.transaction() as s:
        try_acquire(s, "the-change", "me", 60)
        kick(s, "test.stock", 7, huey=DownQueue())
    with db.transaction() as s:
        assert not try_acquire(s, "the-change", "someone-else", 60), "the change itself must stay committed"
