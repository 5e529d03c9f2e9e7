"""Warehouses over the API: list, create, read, rename and deactivate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import warehouse


def test_creating_and_listing_warehouses(api: TestClient) -> None:
    response = api.post("/api/v1/warehouses", json={"code": "TOKYO-1", "name": "東京倉庫"})
    assert response.status_code == 201
    assert response.json()["code"] == "TOKYO-1" and response.json()["active"] is True
    warehouse(api, "OSAKA")
    listed = api.get("/api/v1/warehouses").json()
    assert listed["total"] == 2
    assert [w["code"] for w in listed["items"]] == ["TOKYO-1", "OSAKA"]
    second = api.get("/api/v1/warehouses", params={"limit": 1, "offset": 1}).json()
    assert second["total"] == 2 and [w["code"] for w in second["items"]] == ["OSAKA"]


def test_a_duplicate_warehouse_code_is_a_conflict(api: TestClient) -> None:
    warehouse(api, "TOKYO")
    response = api.post("/api/v1/warehouses", json={"code": "TOKYO", "name": "again"})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "TOKYO" in response.json()["message"]


def test_a_too_long_warehouse_code_is_refused(api: TestClient) -> None:
    response = api.post("/api/v1/warehouses", json={"code": "W" * 51, "name": "x"})
    assert response.status_code == 422
    assert response.json()["details"]["problems"][0]["field"] == "code"


def test_renaming_and_deactivating_a_warehouse(api: TestClient) -> None:
    wid = warehouse(api, "TOKYO")
    response = api.patch(f"/api/v1/warehouses/{wid}", json={"name": "新東京", "active": False})
    assert response.status_code == 200
    assert response.json()["name"] == "新東京" and response.json()["active"] is False
    assert api.get(f"/api/v1/warehouses/{wid}").json()["active"] is False
    assert [w["code"] for w in api.get("/api/v1/warehouses", params={"active": "true"}).json()["items"]] == []


def test_a_warehouse_code_can_not_be_patched_and_unknown_ids_are_404(api: TestClient) -> None:
    wid = warehouse(api, "TOKYO")
    assert api.patch(f"/api/v1/warehouses/{wid}", json={"code": "X"}).status_code == 422
    missing = api.patch("/api/v1/warehouses/4242", json={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["message"] == "No warehouse with id 4242."
    assert api.get("/api/v1/warehouses/4242").status_code == 404
