"""The stores API end to end: connect a sandbox shop, the import it starts, runs, the sync log, retry, key update;
secrets masked in every response."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kura.auth.models import User
from kura.auth.service import create_token, create_user
from kura.config import Settings
from kura.db import Database
from kura.jobs import registry
from kura.jobs.queue import make_huey
from kura.web.app import create_app


@pytest.fixture
def api(db_url: str, db: Database, tmp_path: Any) -> Iterator[TestClient]:
    """The app with a Huey in immediate mode: a queued sync runs inside the request that sent it."""
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var")
    app = create_app(settings, db, start_jobs=False)
    huey = make_huey(f"sqlite:///{tmp_path / 'queue.db'}", name=f"t-{uuid.uuid4().hex[:8]}")
    huey.immediate = True
    app.state.huey = huey
    registry.bind_database(db)
    with db.transaction() as s:
        user = create_user(s, "admin", "correct horse battery", "admin")
        token = create_token(s, s.get_one(User, user.id), "tests")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    registry.bind_database(None)


def connect(api: TestClient, shop: dict[str, Any], base_url: str, **extra: Any) -> Any:
    body = {"name": f"楽天 {shop['shop_url']}", "shop_url": f"https://www.rakuten.co.jp/{shop['shop_url']}/",
            "license_key": shop["license_key"], "service_secret": shop["service_secret"], "api_base_url": base_url,
            **extra}  # fmt: skip
    return api.post("/api/v1/stores", json=body)


def test_connect_imports_products_and_masks_secrets(api: TestClient, new_shop: Any, sandbox: Any) -> None:
    shop = new_shop(items=25)
    response = connect(api, shop, sandbox.base_url)
    assert response.status_code == 201, response.text
    store = response.json()
    assert store["channel"] == "rakuten" and store["status"] == "active"
    assert store["shop_code"] == shop["shop_url"] and store["license_expires_at"]
    assert store["license_expiry_warning"] is (store["license_days_left"] < 14)  # the sandbox clock is 2025
    run = api.get(f"/api/v1/runs/{store['import_run_id']}").json()
    assert run["status"] == "done" and run["progress_done"] == run["progress_total"] == 25
    products = api.get("/api/v1/products", params={"limit": 500}).json()
    assert products["total"] == run["counts"]["products_created"] > 0
    bodies = [response.text, api.get("/api/v1/stores").text, api.get(f"/api/v1/stores/{store['id']}").text,
              api.get(f"/api/v1/stores/{store['id']}/sync-log", params={"limit": 500}).text,
              api.get(f"/api/v1/runs/{store['import_run_id']}").text]  # fmt: skip
    for body in bodies:
        assert shop["license_key"] not in body and shop["service_secret"] not in body


def test_bare_shop_code_and_a_manual_store_are_accepted(api: TestClient, new_shop: Any, sandbox: Any) -> None:
    shop = new_shop(items=2)
    response = connect(api, {**shop}, sandbox.base_url, shop_url=shop["shop_url"], import_products=False)
    assert response.status_code == 201 and response.json()["import_run_id"] is None
    manual = api.post("/api/v1/stores", json={"name": "手動"})
    assert manual.status_code == 201 and manual.json()["channel"] == "manual"
    assert api.get("/api/v1/stores").json()["total"] == 2


def test_wrong_credentials_are_a_clear_error_and_save_nothing(api: TestClient, new_shop: Any, sandbox: Any) -> None:
    shop = new_shop(items=1)
    response = connect(api, {**shop, "license_key": "SL1_wrong"}, sandbox.base_url)
    assert response.status_code == 422 and response.json()["code"] == "credentials_rejected"
    assert "License Key" in response.json()["message"]
    assert api.get("/api/v1/stores").json()["total"] == 0
    bad_url = connect(api, {**shop, "shop_url": "https://example.com/x/y"}, sandbox.base_url)
    assert bad_url.status_code == 422 and bad_url.json()["details"]["field"] == "shop_url"


def test_sync_one_item_settings_log_and_retry(api: TestClient, new_shop: Any, sandbox: Any, db: Database) -> None:
    shop = new_shop(items=6)
    store = connect(api, shop, sandbox.base_url, import_products=False).json()
    missing = api.post(f"/api/v1/stores/{store['id']}/sync/products", json={"manage_number": "nope"})
    assert missing.status_code == 202
    run = api.get(missing.json()["status_url"]).json()
    assert run["status"] == "failed" and "nope" in run["error"]
    log = api.get(f"/api/v1/stores/{store['id']}/sync-log", params={"level": "error", "kind": "products"}).json()
    assert log["total"] == 1 and log["items"][0]["entity_ref"] == "nope" and log["items"][0]["retryable"] is False
    patched = api.patch(f"/api/v1/stores/{store['id']}", json={"sku_source": "variant_id",
                                                               "intervals": {"rakuten.import_products": 3600}})
    assert patched.status_code == 200 and patched.json()["sku_source"] == "variant_id"
    assert patched.json()["settings"]["intervals"] == {"rakuten.import_products": 3600}
    whole = api.post(f"/api/v1/stores/{store['id']}/sync/products")
    assert api.get(whole.json()["status_url"]).json()["status"] == "done"
    calls = api.get(f"/api/v1/stores/{store['id']}/sync-log", params={"kind": "call"}).json()
    assert calls["total"] >= 2 and {c["function"] for c in calls["items"]} >= {"items.search"}
    assert all(c["duration_ms"] is not None and c["status_code"] for c in calls["items"])


def test_retry_of_a_failed_item_imports_it_alone(api: TestClient, new_shop: Any, sandbox: Any, db: Database) -> None:
    from kura.stores.service import log_entry

    shop = new_shop(items=4)
    store = connect(api, shop, sandbox.base_url, import_products=False).json()
    mn = "kura-00002"
    with db.transaction() as s:
        log_entry(s, store["id"], kind="products", level="error", entity_ref=mn, message="boom",
                  retry={"action": "import_item", "manage_number": mn})  # fmt: skip
    entry = api.get(f"/api/v1/stores/{store['id']}/sync-log", params={"unresolved": True}).json()["items"][0]
    assert entry["retryable"] is True
    retried = api.post(f"/api/v1/sync-log/{entry['id']}/retry")
    assert retried.status_code == 202 and retried.json()["kind"] == "rakuten.sync_group"
    assert api.get(retried.json()["status_url"]).json()["status"] == "done"
    products = api.get("/api/v1/products").json()["items"]
    assert {p["code"] for p in products} and all(mn == p["code"] or p["type"] != "group" for p in products)
    after = api.get(f"/api/v1/stores/{store['id']}/sync-log", params={"unresolved": True, "kind": "products"}).json()
    assert all(e["entity_ref"] != mn for e in after["items"])


def test_401_needs_attention_then_update_key(api: TestClient, new_shop: Any, sandbox: Any) -> None:
    shop = new_shop(items=3)
    store = connect(api, shop, sandbox.base_url, import_products=False).json()
    sandbox.admin.set_license(shop["shop_url"], expires_at="2020-01-01T00:00:00+09:00")
    run = api.post(f"/api/v1/stores/{store['id']}/sync/products").json()
    assert api.get(run["status_url"]).json()["status"] == "failed"
    attention = api.get(f"/api/v1/stores/{store['id']}").json()
    assert attention["status"] == "needs_attention"
    refused = api.post(f"/api/v1/stores/{store['id']}/sync/products")
    assert refused.status_code == 400 and "update its key" in refused.json()["message"]
    new_key = sandbox.admin.set_license(shop["shop_url"], issue_new=True)["license_key"]
    updated = api.post(f"/api/v1/stores/{store['id']}/key", json={"license_key": new_key})
    assert updated.status_code == 200 and updated.json()["status"] == "active"
    assert new_key not in updated.text and updated.json()["license_key"] == f"{new_key[:4]}…{new_key[-4:]}"
    again = api.post(f"/api/v1/stores/{store['id']}/sync/products").json()
    assert api.get(again["status_url"]).json()["status"] == "done"
