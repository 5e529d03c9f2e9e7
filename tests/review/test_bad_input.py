"""Bad input gets a clear error (4xx with a message), never a 500, and nothing is half-written."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kura.db import Database
from kura.jobs.schedules import JobSchedule
from kura.secrets import decrypt
from kura.stores.models import Store
from tests.review.conftest import LICENSE_KEY


def test_a_full_width_license_key_is_refused_with_a_message_and_the_old_key_kept(
    api: TestClient, db: Database, rakuten_store: int
) -> None:
    response = api.post(f"/api/v1/stores/{rakuten_store}/key", json={"license_key": "SL１２３４５６_abcdef"})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == "license_key"
    assert "full-width" in response.json()["message"]
    with db.reader() as s:
        assert decrypt(s.get_one(Store, rakuten_store).license_key_enc or "") == LICENSE_KEY


def test_connecting_with_a_full_width_service_secret_is_refused_and_saves_nothing(
    api: TestClient, db: Database
) -> None:
    body = {"name": "新しいストア", "shop_url": "https://www.rakuten.co.jp/newshop/",
            "license_key": "SL123456_abcdefgh", "service_secret": "SP１２３４５６_secret"}  # fmt: skip
    response = api.post("/api/v1/stores", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == "service_secret"
    with db.reader() as s:
        assert s.scalar(select(func.count(Store.id))) == 0


def test_order_settings_with_null_history_statuses_is_a_422_and_changes_nothing(
    api: TestClient, db: Database, rakuten_store: int
) -> None:
    url = f"/api/v1/stores/{rakuten_store}/order-settings"
    response = api.put(url, json={"history_days": 30, "history_statuses": None})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == "orders.history_statuses"
    with db.reader() as s:
        assert "orders" not in (s.get_one(Store, rakuten_store).settings or {})
    assert api.put(url, json={"history_days": 30}).json()["history_days"] == 30


def test_a_packed_sub_status_with_a_nul_character_is_refused(api: TestClient, rakuten_store: int) -> None:
    url = f"/api/v1/stores/{rakuten_store}/order-settings"
    for bad in ("Processed\x00", "x" * 101):
        response = api.put(url, json={"packed_sub_status": bad})
        assert response.status_code == 422, response.text
        assert response.json()["details"]["field"] == "orders.packed_sub_status"


def test_resending_the_shipping_report_of_an_unknown_order_is_a_404(api: TestClient) -> None:
    response = api.post("/api/v1/orders/999999/report-shipping")
    assert response.status_code == 404, response.text
    assert "999999" in response.json()["message"]


def test_a_reconcile_interval_out_of_range_is_a_422_and_the_schedule_is_untouched(
    api: TestClient, db: Database, rakuten_store: int
) -> None:
    url = f"/api/v1/stores/{rakuten_store}/stock-settings"
    for bad in (2**70, 1, 31 * 86_400):
        response = api.put(url, json={"reconcile_interval_s": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["details"]["field"] == "reconcile_interval_s"
    with db.reader() as s:
        assert s.scalars(select(JobSchedule).where(JobSchedule.store_id == rakuten_store)).all() == []
    assert api.put(url, json={"reconcile_interval_s": 3600}).status_code == 200
    with db.reader() as s:
        schedule = s.scalars(select(JobSchedule).where(JobSchedule.store_id == rakuten_store)).one()
        assert (schedule.interval_s, schedule.enabled) == (3600, True)


def test_the_sales_guard_is_on_by_default_and_switched_by_the_stock_settings(
    api: TestClient, rakuten_store: int
) -> None:
    status = f"/api/v1/stores/{rakuten_store}/stock-sync"
    url = f"/api/v1/stores/{rakuten_store}/stock-settings"
    assert api.get(status).json()["sales_guard"] is True
    assert api.put(url, json={"sales_guard": "no"}).status_code == 422
    off = api.put(url, json={"sales_guard": False})
    assert off.status_code == 200 and off.json()["sales_guard"] is False
    assert api.get(status).json()["sales_guard"] is False
    assert api.put(url, json={"sales_guard": True}).json()["sales_guard"] is True
