"""Web fixtures: the app on a migrated database, an admin user, a signed-in client and an API client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kura.auth.service import create_token, create_user
from kura.config import Settings
from kura.db import Database
from kura.web.app import create_app

ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key="")


@pytest.fixture
def app_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, start_jobs=False)) as client:
        yield client


@pytest.fixture
def admin(db: Database) -> int:
    with db.transaction() as s:
        return create_user(s, "admin", ADMIN_PASSWORD, "admin").id


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def signed_in(app_client: TestClient, admin: int) -> TestClient:
    page = app_client.get("/login")
    response = app_client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_from(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return app_client


@pytest.fixture
def api(app_client: TestClient, db: Database, admin: int) -> TestClient:
    """A client that authenticates with a Bearer token of the admin."""
    from kura.auth.models import User

    with db.transaction() as s:
        token = create_token(s, s.get_one(User, admin), "tests")
    app_client.headers["Authorization"] = f"Bearer {token}"
    return app_client
