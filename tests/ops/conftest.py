"""Ops fixtures: the app on a migrated database with its own SQLite queue file, signed in or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kura.config import Settings
from kura.db import Database
from kura.web.app import create_app


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, queue_url=f"sqlite:///{tmp_path / 'queue.db'}", var_dir=tmp_path / "var")


def client_for(settings: Settings, db: Database) -> TestClient:
    return TestClient(create_app(settings, db, start_jobs=False))


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with client_for(settings, db) as c:
        yield c
