"""Fixtures for the carrier sandbox contract tests: the app in process, on a manual clock."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx; it is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from carriers_sandbox.app import create_app
from carriers_sandbox.config import CarrierSandboxConfig

START = "2025-06-02T10:00:00+09:00"
HOUR = 3600.0
DAY = 24 * HOUR


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "123456-20250602-0000000001",
        "shipper": {"name": "くら商店", "postal_code": "150-0001", "prefecture": "東京都",
                    "address1": "渋谷区神宮前1-2-3", "phone": "0312345678"},
        "consignee": {"name": "山田　太郎", "postal_code": "530-0001", "prefecture": "大阪府",
                      "address1": "大阪市北区梅田3-1-1", "phone": "09012345678"},
        "time_slot": None,
    }
    body.update(changes)
    return body


def make_client(**config: Any) -> TestClient:
    settings = {"clock": "manual", "clock_start": START, "absent_rate": 0.0, "failed_rate": 0.0, "lost_rate": 0.0,
                **config}
    return TestClient(create_app(CarrierSandboxConfig(**settings)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c
        c.app.state.store.close()  # type: ignore[attr-defined]


def ship(client: TestClient, carrier: str = "yamato", **changes: Any) -> str:
    response = client.post(f"/v1/{carrier}/shipments", json=request_body(**changes))
    assert response.status_code == 201, response.text
    return str(response.json()["tracking_number"])


def track(client: TestClient, carrier: str, *numbers: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/{carrier}/tracking", params={"numbers": ",".join(numbers)})
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def words(client: TestClient, carrier: str, number: str) -> list[str]:
    return [e["status"] for e in track(client, carrier, number)[0]["events"]]


def advance(client: TestClient, seconds: float) -> None:
    client.post("/_sandbox/clock/advance", json={"seconds": seconds}).raise_for_status()
