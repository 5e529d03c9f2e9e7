"""Job fixtures: a Huey on a temporary SQLite queue file, the test database bound for tasks, test job kinds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kura.db import Database
from kura.jobs import registry
from kura.jobs.queue import make_huey


@pytest.fixture
def huey(tmp_path: Path) -> Any:
    return make_huey(f"sqlite:///{tmp_path / 'queue.db'}", name=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def bound_db(db: Database) -> Iterator[Database]:
    registry.bind_database(db)
    yield db
    registry.bind_database(None)


@pytest.fixture
def register_kind() -> Iterator[Callable[..., None]]:
    """Registers job kinds for one test and removes them afterwards."""
    names: list[str] = []

    def register(name: str, fn: registry.JobFn, lease_ttl_s: float = 30.0) -> None:
        registry.job_kind(name, lease_ttl_s=lease_ttl_s)(fn)
        names.append(name)

    yield register
    for name in names:
        registry.unregister(name)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()
