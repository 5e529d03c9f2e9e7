"""Job kinds: the name that travels in a Huey message ("rakuten.orders") mapped to the function that does it.

Messages carry only (kind, store_id[, run_id]); the code that runs is looked up here on arrival, so a kind
can be scheduled, kicked after a commit or run from the CLI in the same way. Sync modules register their
kinds with `@job_kind(...)` and are imported by `kura.jobs.tasks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kura.db import Database

Counts = Mapping[str, Any]


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


# fn(store_id, progress) -> counts to keep with the run (or None). It may do network I/O; it must not hold a
# database write transaction while doing so.
JobFn = Callable[[int | None, Progress], Counts | None]
# fn(db, now) -> kicks (kind, store_id) the dispatcher should send; for outboxes and other sweepers.
SweepFn = Callable[[Database, dt.datetime], list[tuple[str, int | None]]]
# again(db, store_id) -> True if work for the kind is waiting once a run has finished and let go of its lease.
# A kick that arrives while a run holds the lease is skipped; this is how its work is not left to the sweeper.
AgainFn = Callable[[Database, int | None], bool]


@dataclass(frozen=True)
class JobKind:
    name: str
    fn: JobFn
    lease_ttl_s: float
    again: AgainFn | None = None


_kinds: dict[str, JobKind] = {}
_sweeps: dict[str, SweepFn] = {}


def job_kind(name: str, *, lease_ttl_s: float = 300.0, again: AgainFn | None = None) -> Callable[[JobFn], JobFn]:
    """Registers fn as the job `name`; the lease "{name}:{store_id}" lives lease_ttl_s between renewals.

    `again`: asked after each successful run, once the lease is released; True sends the job again."""

    def register(fn: JobFn) -> JobFn:
        existing = _kinds.get(name)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"job kind {name!r} is already registered to {existing.fn!r}")
        _kinds[name] = JobKind(name, fn, lease_ttl_s, again)
        return fn

    return register


def unregister(name: str) -> None:
    _kinds.pop(name, None)


def get_kind(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        hint = "register it with @job_kind and import its module in kura.jobs.tasks"
        raise KeyError(f"unknown job kind {name!r}; {hint}") from None


def kinds() -> list[str]:
    return sorted(_kinds)


def sweep(name: str) -> Callable[[SweepFn], SweepFn]:
    """Registers a sweeper the dispatcher calls every tick (e.g. outbox rows whose kick was lost)."""

    def register(fn: SweepFn) -> SweepFn:
        _sweeps[name] = fn
        return fn

    return register


def sweeps() -> dict[str, SweepFn]:
    return dict(_sweeps)


_database: Database | None = None


def bind_database(db: Database | None) -> None:
    """The database the tasks of this process use (the web app binds its own; tests bind theirs)."""
    global _database
    _database = db


def unbind_database(db: Database) -> None:
    """Forgets db if it is the bound one (its owner is shutting down)."""
    global _database
    if _database is db:
        _database = None


def job_database() -> Database:
    global _database
    if _database is None:
        from kura.config import get_settings

        _database = Database(get_settings().database_url)
    return _database
