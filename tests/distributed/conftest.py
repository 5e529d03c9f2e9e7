"""Fixtures for Kura as real processes: a PostgreSQL database and a redis-server of the test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kura.db import Database
from tests.conftest import need_service
from tests.distributed.cluster import (
    REDIS_SERVER,
    Cluster,
    RedisServer,
    Sandbox,
    drop_database,
    fresh_database,
    postgres_available,
)


@pytest.fixture
def kura_pg(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    need_service("PostgreSQL", postgres_available(), "start it on 127.0.0.1:5432 (or set KURA_TEST_PG_ADMIN_URL)")
    name = f"kura_dist_{uuid.uuid4().hex[:8]}"
    url = fresh_database(name)
    db = Database(url)
    yield url, db
    db.dispose()
    drop_database(name)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    need_service("redis-server", os.path.exists(REDIS_SERVER), "install redis-server (Debian: redis-server)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        sandbox = Sandbox(tmp_path / f"sandbox{len(started)}", **options)
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def make_cluster(kura_pg: tuple[str, Database], redis_server: RedisServer,
                 tmp_path: Path) -> Iterator[Callable[..., Cluster]]:  # fmt: skip
    clusters: list[Cluster] = []

    def make(**extra_env: str) -> Cluster:
        cluster = Cluster(tmp_path / "kura", kura_pg[0], redis_server.url + "/0", redis_server.url + "/1",
                          {k: str(v) for k, v in extra_env.items()})  # fmt: skip
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()
