"""/healthz says the process lives; /readyz says whether it can work: database, migrations, queue."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kura.config import Settings
from kura.db import Database
from kura.observability.health import check_queue
from tests.ops.conftest import client_for

UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def test_healthz_answers_while_the_process_lives(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_is_ready_on_a_migrated_database_and_a_reachable_queue(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["not_ready"] == []
    assert set(body["checks"]) == {"database", "migrations", "queue"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_names_an_unreachable_database_and_does_not_leak_its_url(settings: Settings, tmp_path: Path) -> None:
    unreachable = Database(UNREACHABLE_PG)
    with client_for(settings, unreachable) as client:
        response = client.get("/readyz")
    unreachable.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["not_ready"] == ["database", "migrations"]
    assert "cannot reach the database" in body["checks"]["database"]["detail"]
    assert "nowhere" not in response.text  # the URL (and any password in it) stays out of the answer


def test_readyz_names_an_unreachable_redis_queue(settings: Settings, db: Database) -> None:
    with client_for(settings.model_copy(update={"queue_url": UNREACHABLE_REDIS}), db) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["queue"]
    assert "cannot reach the queue" in response.json()["checks"]["queue"]["detail"]


def test_readyz_names_a_sqlite_queue_whose_directory_is_missing(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'queue.db'}"
    with client_for(settings.model_copy(update={"queue_url": missing}), db) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["not_ready"] == ["queue"]


def test_readyz_says_the_migrations_are_behind_on_an_unmigrated_database(settings: Settings, tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with client_for(settings, empty) as client:
        body = client.get("/readyz").json()
    empty.dispose()
    assert body["not_ready"] == ["migrations"]
    assert "kura db upgrade" in body["checks"]["migrations"]["detail"]


def test_a_redis_queue_that_answers_is_ready() -> None:
    # Skipped quietly when no Redis runs here: the unreachable case above is the one that matters.
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5).ping()
    except Exception:
        return
    assert check_queue("redis://127.0.0.1:6379/15").ok


def test_the_dashboard_shows_the_same_health(client: TestClient, db: Database) -> None:
    from kura.auth.service import create_user
    from tests.web.conftest import csrf_from

    with db.transaction() as s:
        create_user(s, "admin", "correct horse battery", "admin")
    page = client.get("/login")
    client.post("/login", data={"username": "admin", "password": "correct horse battery",
                                "csrf_token": csrf_from(page.text), "next": "/"})  # fmt: skip
    html = client.get("/", headers={"Accept-Language": "en"}).text
    assert 'data-testid="system-health"' in html and "System health" in html
    for check in ("database", "migrations", "queue", "queue_depth", "stores_needing_attention"):
        assert f'data-check="{check}"' in html
    assert "システムの状態" in client.get("/", headers={"Accept-Language": "ja"}).text
