"""ESA authentication, licence-key expiry and shop isolation."""

from __future__ import annotations

import base64
import re

import pytest

from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import esa_header
from tests.sandbox.conftest import START, Env, make_env

UNAUTHORISED = {"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}
PATHS = [
    ("GET", "/es/2.0/items/search"),
    ("GET", "/es/2.0/inventories/manage-numbers/kura-00001/variants/v00001"),
    ("POST", "/es/2.0/order/searchOrder/"),
    ("GET", "/es/1.0/license-management/license-key/expiry-date?licenseKey=x"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_missing_header_is_401_with_gateway_shape(env: Env, method: str, path: str) -> None:
    response = env.client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json() == UNAUTHORISED


@pytest.mark.parametrize("header", [
    "Bearer abc",
    "ESA not-base64!!",
    "ESA " + base64.b64encode(b"no-colon").decode(),
])
def test_malformed_header_is_401(env: Env, header: str) -> None:
    response = env.client.get("/es/2.0/items/search", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == UNAUTHORISED


def test_wrong_secret_or_key_is_401(env: Env) -> None:
    wrong_secret = esa_header("SP000000_wrong", env.shop["license_key"])
    wrong_key = esa_header(env.shop["service_secret"], "SL000000_wrong")
    for header in (wrong_secret, wrong_key):
        assert env.client.get("/es/2.0/items/search", headers={"Authorization": header}).status_code == 401
    assert env.get("/es/2.0/items/search").status_code == 200


def test_key_expires_after_90_days_on_the_sandbox_clock(env: Env) -> None:
    env.client.post("/_sandbox/clock/advance", json={"seconds": 89 * 86400})
    assert env.get("/es/2.0/items/search").status_code == 200
    env.client.post("/_sandbox/clock/advance", json={"seconds": 2 * 86400})
    response = env.get("/es/2.0/items/search")
    assert response.status_code == 401
    assert response.json() == UNAUTHORISED


def test_licence_ttl_is_configurable() -> None:
    e = make_env(SandboxConfig(clock="manual", clock_start=START, license_ttl_days=1), orders=0)
    e.client.post("/_sandbox/clock/advance", json={"seconds": 86400 + 1})
    assert e.get("/es/2.0/items/search").status_code == 401


def test_admin_can_make_a_key_expire_and_issue_a_new_one(env: Env) -> None:
    shop = env.shop["shop_url"]
    view = env.client.post(f"/_sandbox/shops/{shop}/license", json={"expires_at": START}).json()
    assert env.get("/es/2.0/items/search").status_code == 401
    assert view["license_keys"][0]["expired"] is True
    view = env.client.post(f"/_sandbox/shops/{shop}/license", json={"issue_new": True}).json()
    new_key = view["license_key"]
    assert new_key != env.shop["license_key"]
    header = esa_header(env.shop["service_secret"], new_key)
    assert env.client.get("/es/2.0/items/search", headers={"Authorization": header}).status_code == 200


def test_expiry_date_endpoint_reports_issue_plus_90_days(env: Env) -> None:
    key = env.shop["license_key"]
    response = env.get(f"/es/1.0/license-management/license-key/expiry-date?licenseKey={key}")
    assert response.status_code == 200
    assert response.json() == {"expiryDate": "2025-08-31T10:00:00+09:00"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", response.json()["expiryDate"])
    assert env.get("/es/1.0/license-management/license-key/expiry-date").status_code == 400


def test_each_shop_sees_only_its_own_data(env: Env) -> None:
    other = env.client.post("/_sandbox/shops", json={"shop_url": "other-shop"}).json()
    assert other["service_secret"] != env.shop["service_secret"]
    header = {"Authorization": esa_header(other["service_secret"], other["license_key"])}
    assert env.client.get("/es/2.0/items/manage-numbers/kura-00001", headers=header).status_code == 404
    assert env.get("/es/2.0/items/manage-numbers/kura-00001").status_code == 200
    body = {"dateType": 1, "startDatetime": "2025-05-01T00:00:00+0900", "endDatetime": "2025-06-02T00:00:00+0900"}
    mine = env.order_api("searchOrder", body).json()["orderNumberList"]
    theirs = env.client.post("/es/2.0/order/searchOrder/", json=body, headers=header).json()
    assert mine and theirs["orderNumberList"] == []
    # another shop's secret with this shop's key is rejected
    mixed = esa_header(other["service_secret"], env.shop["license_key"])
    assert env.client.get("/es/2.0/items/search", headers={"Authorization": mixed}).status_code == 401
