"""Fixtures of the chaos test: those of tests/distributed (a redis-server of the test's own, the sandbox, Kura's
processes), on a PostgreSQL database named test_chaos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kura.db import Database
from tests.conftest import need_service
from tests.distributed.cluster import drop_database, fresh_database, postgres_available
from tests.distributed.conftest import make_cluster, make_sandbox, redis_server

__all__ = ["kura_pg", "make_cluster", "make_sandbox", "redis_server"]


@pytest.fixture
def kura_pg(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    need_service("PostgreSQL", postgres_available(), "start it on 127.0.0.1:5432 (or set KURA_TEST_PG_ADMIN_URL)")
    url = fresh_database("test_chaos")
    db = Database(url)
    yield url, db
    db.dispose()
    drop_database("test_chaos")
