"""The Integrations pages without a browser: connect form, store page, sync, settings, key, retry; no secret shown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kura.auth.service import create_user
from kura.config import Settings
from kura.db import Database
from kura.jobs import registry
from kura.jobs.queue import make_huey
from kura.web.app import create_app


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def web(db_url: str, db: Database, tmp_path: Any) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, var_dir=tmp_path / "var"), db, start_jobs=False)
    huey = make_huey(f"sqlite:///{tmp_path / 'q.db'}", name=f"p-{uuid.uuid4().hex[:8]}")
    huey.immediate = True
    app.state.huey = huey
    registry.bind_database(db)
    with db.transaction() as s:
        create_user(s, "admin", "correct horse battery", "admin")
    with TestClient(app) as client:
        page = client.get("/login")
        client.post("/login", data={"username": "admin", "password": "correct horse battery",
                                    "csrf_token": csrf(page.text), "next": "/"})  # fmt: skip
        client.get("/lang/en")
        yield client
    registry.bind_database(None)


def test_connect_through_the_page_then_sync_and_update_key(web: TestClient, new_shop: Any, sandbox: Any) -> None:
    shop = new_shop(items=8)
    page = web.get("/integrations", headers={"Accept-Language": "en"})
    assert "Connect a Rakuten shop" in page.text
    wrong = web.post("/integrations/rakuten/connect", data={
        "csrf_token": csrf(page.text), "name": "x", "shop_url": shop["shop_url"], "license_key": "SL1_bad",
        "service_secret": shop["service_secret"], "api_base_url": sandbox.base_url})  # fmt: skip
    assert wrong.status_code == 422 and "rejected" in wrong.text and shop["service_secret"] not in wrong.text
    done = web.post("/integrations/rakuten/connect", data={
        "csrf_token": csrf(page.text), "name": "楽天 shop", "shop_url": shop["shop_url"],
        "license_key": shop["license_key"], "service_secret": shop["service_secret"],
        "api_base_url": sandbox.base_url})  # fmt: skip
    assert done.status_code == 200 and "Sync Products" in done.text
    run_id = int(re.search(r"/integrations/runs/(\d+)/events", done.text).group(1))  # type: ignore[union-attr]
    events = web.get(f"/integrations/runs/{run_id}/events")
    assert "event: progress" in events.text and "event: done" in events.text and 'data-status="done"' in events.text
    store_url = str(done.url).split("?")[0]
    synced = web.post(f"{store_url}/sync", data={"csrf_token": csrf(done.text), "what": "groups",
                                                     "manage_number": ""})  # fmt: skip
    assert synced.status_code == 200
    key = web.post(f"{store_url}/key", data={"csrf_token": csrf(done.text), "license_key": shop["license_key"]})
    assert key.status_code == 200 and "checked with RMS" in key.text
    for body in (done.text, synced.text, key.text, web.get("/integrations").text):
        assert shop["license_key"] not in body and shop["service_secret"] not in body
