"""Rate limits per (licence key, function) and injected faults, each answered in the API family's shape."""

from __future__ import annotations

import time

from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import esa_header
from tests.sandbox.conftest import START, Env, make_env

SEARCH = {"dateType": 1, "startDatetime": "2025-05-01T00:00:00+0900", "endDatetime": "2025-06-01T00:00:00+0900"}


def limited_env() -> Env:
    return make_env(SandboxConfig(clock="manual", clock_start=START, rate_limits_enabled=True), orders=20)


def test_default_limits_answer_429_in_each_family_shape() -> None:
    env = limited_env()
    assert env.send("POST", "/es/2.0/items/bulk-get", {"manageNumbers": ["kura-00001"]}).status_code == 200
    response = env.send("POST", "/es/2.0/items/bulk-get", {"manageNumbers": ["kura-00001"]})  # 1 req/s
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "GE0429"
    assert env.order_api("searchOrder", SEARCH).status_code == 200
    response = env.order_api("searchOrder", SEARCH)
    assert response.status_code == 429
    assert response.json()["MessageModelList"][0]["messageType"] == "ERROR"
    stats = {s["function"]: s for s in env.client.get("/_sandbox/stats").json()["stats"]}
    assert stats["items.bulk.get"]["rate_limited"] == 1 and stats["items.bulk.get"]["requests"] == 2
    assert stats["rpay.order.searchOrder"]["statuses"] == {"200": 1, "429": 1}
    assert stats["items.bulk.get"]["license_key"] == env.shop["license_key"]


def test_five_per_second_then_429_and_recovery() -> None:
    env = limited_env()
    statuses = [env.get("/es/2.0/items/search").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    time.sleep(1.05)
    assert env.get("/es/2.0/items/search").status_code == 200


def test_limits_are_per_key_and_function() -> None:
    env = limited_env()
    other = env.client.post("/_sandbox/shops", json={}).json()
    other_auth = {"Authorization": esa_header(other["service_secret"], other["license_key"])}
    assert env.get("/es/2.0/items/manage-numbers/kura-00001").status_code == 200
    for _ in range(5):
        env.get("/es/2.0/items/search")
    assert env.get("/es/2.0/items/search").status_code == 429
    assert env.client.get("/es/2.0/items/search", headers=other_auth).status_code == 200
    assert env.get("/es/2.0/items/manage-numbers/kura-00002").status_code == 200


def test_limits_can_be_overridden_or_switched_off() -> None:
    env = make_env(SandboxConfig(clock="manual", clock_start=START, rate_limits={"items.search": 2}), orders=0)
    assert [env.get("/es/2.0/items/search").status_code for _ in range(3)] == [200, 200, 429]
    env.client.put("/_sandbox/config", json={"rate_limits_enabled": False})
    assert all(env.get("/es/2.0/items/search").status_code == 200 for _ in range(20))


def test_faults_5xx_429_and_maintenance(env: Env) -> None:
    env.client.put("/_sandbox/faults", json={"function": "items.get", "error_5xx": 1.0})
    response = env.get("/es/2.0/items/manage-numbers/kura-00001")
    assert response.status_code == 500 and response.json()["errors"][0]["code"] == "X0000"
    assert env.get("/es/2.0/items/search").status_code == 200  # other functions unaffected
    env.client.put("/_sandbox/faults", json={"function": "rpay.order.searchOrder", "error_429": 1.0})
    response = env.order_api("searchOrder", SEARCH)
    assert response.status_code == 429 and "MessageModelList" in response.json()
    env.client.put("/_sandbox/faults", json={"function": "*", "maintenance": True})
    assert env.get("/es/2.0/items/search").status_code == 503
    env.client.delete("/_sandbox/faults")
    assert env.get("/es/2.0/items/manage-numbers/kura-00001").status_code == 200
    stats = {s["function"]: s for s in env.client.get("/_sandbox/stats").json()["stats"]}
    assert stats["items.get"]["faults"] == 1


def test_fault_share_is_a_share(env: Env) -> None:
    env.client.put("/_sandbox/faults", json={"function": "items.search", "error_5xx": 0.5})
    statuses = [env.get("/es/2.0/items/search").status_code for _ in range(200)]
    assert 60 < statuses.count(500) < 140 and statuses.count(500) + statuses.count(200) == 200


def test_maintenance_window_on_the_sandbox_clock(env: Env) -> None:
    now = env.client.get("/_sandbox/clock").json()["epoch"]
    env.client.put("/_sandbox/faults", json={"maintenance_start": now + 60, "maintenance_end": now + 120})
    assert env.get("/es/2.0/items/search").status_code == 200
    env.client.post("/_sandbox/clock/advance", json={"seconds": 90})
    assert env.get("/es/2.0/items/search").status_code == 503
    env.client.post("/_sandbox/clock/advance", json={"seconds": 60})
    assert env.get("/es/2.0/items/search").status_code == 200


def test_slow_and_timeout(env: Env) -> None:
    env.client.put("/_sandbox/faults", json={"function": "items.search", "slow_ms": 300})
    started = time.monotonic()
    assert env.get("/es/2.0/items/search").status_code == 200
    assert time.monotonic() - started >= 0.3
    env.client.put("/_sandbox/config", json={"fault_timeout_s": 0.2})
    env.client.put("/_sandbox/faults", json={"function": "items.search", "timeout": 1.0})
    assert env.get("/es/2.0/items/search").status_code == 504
    assert env.client.put("/_sandbox/faults", json={"bogus": 1}).status_code == 400
