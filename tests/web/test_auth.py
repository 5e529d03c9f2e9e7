"""Signing in, CSRF, API tokens and roles."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kura.auth.service import create_token, create_user
from kura.db import Database
from tests.web.conftest import ADMIN_PASSWORD, csrf_from


def test_pages_redirect_to_login_when_signed_out(app_client: TestClient) -> None:
    response = app_client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_wrong_password_is_refused_with_a_message(app_client: TestClient, admin: int) -> None:
    page = app_client.get("/login")
    response = app_client.post(
        "/login", data={"username": "admin", "password": "nope", "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 401
    assert "password" in response.text.lower() or "パスワード" in response.text


def test_login_without_csrf_token_is_refused(app_client: TestClient, admin: int) -> None:
    app_client.get("/login")
    response = app_client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_signed_in_user_sees_the_navigation(signed_in: TestClient) -> None:
    html = signed_in.get("/", headers={"Accept-Language": "en"}).text
    for label in ("Dashboard", "Products", "Inventory", "Orders", "Integrations", "Settings"):
        assert f">{label}<" in html


def test_accept_language_picks_japanese_and_the_switcher_overrides_it(signed_in: TestClient) -> None:
    assert ">ダッシュボード<" in signed_in.get("/", headers={"Accept-Language": "ja,en;q=0.5"}).text
    signed_in.get("/lang/en")
    assert ">Dashboard<" in signed_in.get("/", headers={"Accept-Language": "ja"}).text


def test_api_needs_a_token(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    bad = app_client.get("/api/v1/me", headers={"Authorization": "Bearer kura_wrong"})
    assert bad.status_code == 401


def test_api_token_identifies_the_user(api: TestClient) -> None:
    assert api.get("/api/v1/me").json()["username"] == "admin"


def test_session_api_writes_need_the_csrf_header(signed_in: TestClient) -> None:
    assert signed_in.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
    page = signed_in.get("/settings")
    ok = signed_in.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf_from(page.text)})
    assert ok.status_code == 201
    assert ok.json()["token"].startswith("kura_")


def test_only_admins_add_users(app_client: TestClient, db: Database) -> None:
    with db.transaction() as s:
        create_user(s, "viewer1", "password123", "viewer")
    page = app_client.get("/login")
    app_client.post("/login", data={"username": "viewer1", "password": "password123",
                                    "csrf_token": csrf_from(page.text)})
    settings = app_client.get("/settings")
    response = app_client.post("/settings/users", data={"username": "x", "password": "password123",
                                                          "csrf_token": csrf_from(settings.text)},
                               headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert "admin" in response.json()["message"]


def test_token_is_stored_only_as_a_digest(db: Database, admin: int) -> None:
    from sqlalchemy import select

    from kura.auth.models import ApiToken, User

    with db.transaction() as s:
        token = create_token(s, s.get_one(User, admin), "t")
    with db.reader() as s:
        stored = s.scalars(select(ApiToken.token_hash)).one()
    assert token not in stored and len(stored) == 64
