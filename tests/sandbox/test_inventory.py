"""InventoryAPI 2.0/2.1 contract: get/upsert/delete, bulk-get, bulk-upsert (ABSOLUTE, RELATIVE), range, limits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Env

V = "/es/{version}/inventories/manage-numbers/{mn}/variants/{vid}"


def path(mn: str, vid: str, version: str = "2.0") -> str:
    return V.format(version=version, mn=mn, vid=vid)


def codes(response: Any) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def quantity(env: Env, mn: str, vid: str) -> int:
    return int(env.get(path(mn, vid)).json()["quantity"])


def test_get_shape_on_both_versions(env: Env) -> None:
    for version in ("2.0", "2.1"):
        response = env.get(path("KURA-00001", "v00001", version))
        if response.status_code == 404:  # kura-00001 is multi-SKU in this seed
            vid = next(iter(env.get("/es/2.0/items/manage-numbers/kura-00001").json()["variants"]))
            response = env.get(path("kura-00001", vid, version))
        assert response.status_code == 200
        body = response.json()
        assert set(body) >= {"manageNumber", "variantId", "quantity", "created", "updated"}
        assert body["manageNumber"] == "kura-00001" and body["updated"].endswith("+09:00")


def test_upsert_absolute_and_relative(env: Env) -> None:
    assert env.send("PUT", path("inv-a", "s1"), {"mode": "ABSOLUTE", "quantity": 10}).status_code == 204
    assert env.send("PUT", path("inv-a", "s1"), {"mode": "RELATIVE", "quantity": -3}).status_code == 204
    assert quantity(env, "inv-a", "s1") == 7
    response = env.send("PUT", path("inv-a", "s1"), {"mode": "RELATIVE", "quantity": -8})
    assert response.status_code == 400 and codes(response) == ["IE0117"]
    response = env.send("PUT", path("inv-a", "s1"), {"mode": "RELATIVE", "quantity": 99993})
    assert response.status_code == 400 and codes(response) == ["IE0117"]
    assert quantity(env, "inv-a", "s1") == 7


@pytest.mark.parametrize(("body", "code"), [
    ({"mode": "ABSOLUTE", "quantity": 100000}, "IE0003"),
    ({"mode": "ABSOLUTE", "quantity": -1}, "IE0003"),
    ({"mode": "ABSOLUTE", "quantity": "a"}, "IE0002"),
    ({"mode": "SET", "quantity": 1}, "IE0007"),
    ({"quantity": 1}, "IE0001"),
    ({"mode": "RELATIVE", "quantity": 1}, "IE0500"),
])
def test_upsert_errors(env: Env, body: dict[str, Any], code: str) -> None:
    response = env.send("PUT", path("inv-new", "s1"), body)
    assert response.status_code == 400 and codes(response) == [code]


def test_quantity_bounds_are_inclusive(env: Env) -> None:
    for q in (0, 99999):
        assert env.send("PUT", path("inv-b", "s1"), {"mode": "ABSOLUTE", "quantity": q}).status_code == 204
        assert quantity(env, "inv-b", "s1") == q


def test_delete(env: Env) -> None:
    env.send("PUT", path("inv-c", "s1"), {"mode": "ABSOLUTE", "quantity": 1})
    assert env.send("DELETE", path("inv-c", "s1")).status_code == 204
    response = env.get(path("inv-c", "s1"))
    assert response.status_code == 404 and codes(response) == ["GE0014"]
    assert env.send("DELETE", path("inv-c", "s1")).status_code == 404


def test_v21_lead_time_is_replaced_and_v20_leaves_it(env: Env) -> None:
    body = {"mode": "ABSOLUTE", "quantity": 5, "operationLeadTime": {"normalDeliveryTimeId": 2}, "shipFromIds": [1]}
    assert env.send("PUT", path("inv-d", "s1", "2.1"), body).status_code == 204
    got = env.get(path("inv-d", "s1", "2.1")).json()
    assert got["operationLeadTime"] == {"normalDeliveryTimeId": 2} and got["shipFromIds"] == [1]
    env.send("PUT", path("inv-d", "s1", "2.0"), {"mode": "ABSOLUTE", "quantity": 6})
    assert env.get(path("inv-d", "s1", "2.1")).json()["shipFromIds"] == [1]
    env.send("PUT", path("inv-d", "s1", "2.1"), {"mode": "ABSOLUTE", "quantity": 6})
    assert "shipFromIds" not in env.get(path("inv-d", "s1", "2.1")).json()
    bad = env.send("PUT", path("inv-d", "s1", "2.1"), {**body, "shipFromIds": [999]})
    assert bad.status_code == 400 and codes(bad) == ["IE0118"]


def records(n: int, mn: str = "bulk", mode: str = "ABSOLUTE", q: int = 1) -> list[dict[str, Any]]:
    return [{"manageNumber": f"{mn}-{i // 300}", "variantId": f"s{i}", "mode": mode, "quantity": q} for i in range(n)]


def test_bulk_upsert_400_ok_401_rejected(env: Env) -> None:
    response = env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(400)})
    assert response.status_code == 204
    response = env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(401, "other")})
    assert response.status_code == 400 and codes(response) == ["IE1101"]
    assert env.get(path("other-0", "s0")).status_code == 404


def test_bulk_upsert_mixed_modes_and_all_or_nothing(env: Env) -> None:
    env.send("POST", "/es/2.1/inventories/bulk-upsert", {"inventories": records(3, q=10)})
    batch = [
        {"manageNumber": "BULK-0", "variantId": "s0", "mode": "RELATIVE", "quantity": -4},
        {"manageNumber": "bulk-0", "variantId": "s1", "mode": "ABSOLUTE", "quantity": 2},
    ]
    assert env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": batch}).status_code == 204
    assert quantity(env, "bulk-0", "s0") == 6 and quantity(env, "bulk-0", "s1") == 2
    failing = [*batch, {"manageNumber": "bulk-0", "variantId": "s2", "mode": "RELATIVE", "quantity": -11}]
    response = env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": failing})
    assert response.status_code == 400 and codes(response) == ["IE0117"]
    assert response.json()["errors"][0]["metadata"]["propertyPath"] == "inventories[2].quantity"
    assert quantity(env, "bulk-0", "s0") == 6  # nothing of the failed batch was applied


def test_bulk_duplicates_are_ie1102(env: Env) -> None:
    dup = [{"manageNumber": "a", "variantId": "x", "mode": "ABSOLUTE", "quantity": 1}] * 2
    assert codes(env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": dup})) == ["IE1102"]
    assert codes(env.send("POST", "/es/2.0/inventories/bulk-get", {"inventories": dup})) == ["IE1102"]


def test_more_than_400_variants_per_item_is_ie0121(env: Env) -> None:
    first = [{"manageNumber": "wide", "variantId": f"s{i}", "mode": "ABSOLUTE", "quantity": 1} for i in range(400)]
    assert env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": first}).status_code == 204
    extra = [{"manageNumber": "wide", "variantId": "s400", "mode": "ABSOLUTE", "quantity": 1}]
    response = env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": extra})
    assert response.status_code == 400 and codes(response) == ["IE0121"]


def test_bulk_get_limits_and_result(env: Env) -> None:
    env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(5, q=3)})
    wanted = [{"manageNumber": r["manageNumber"], "variantId": r["variantId"]} for r in records(5)]
    response = env.send("POST", "/es/2.0/inventories/bulk-get", {"inventories": [*wanted, {"manageNumber": "zz",
                                                                                          "variantId": "q"}]})
    assert response.status_code == 200
    assert [i["quantity"] for i in response.json()["inventories"]] == [3] * 5
    many = [{"manageNumber": "m", "variantId": f"s{i}"} for i in range(1001)]
    response = env.send("POST", "/es/2.0/inventories/bulk-get", {"inventories": many})
    assert response.status_code == 400 and codes(response) == ["IE1101"]
    assert env.send("POST", "/es/2.0/inventories/bulk-get", {"inventories": many[:1000]}).status_code == 200


def test_range_search_rules(env: Env) -> None:
    assert codes(env.get("/es/2.0/inventories/bulk-get/range")) == ["IE0105"]
    assert codes(env.get("/es/2.0/inventories/bulk-get/range", params={"minQuantity": 5, "maxQuantity": 1})) == \
        ["IE0113"]
    env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(3, "r", q=77777)})
    hits = env.get("/es/2.1/inventories/bulk-get/range", params={"minQuantity": 77777, "maxQuantity": 77777})
    assert hits.status_code == 200 and len(hits.json()["inventories"]) == 3
    for i in range(3):
        env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(400, f"many{i}", q=5)})
    response = env.get("/es/2.0/inventories/bulk-get/range", params={"minQuantity": 5, "maxQuantity": 5})
    assert response.status_code == 400 and codes(response) == ["IE0116"]
    assert response.json()["errors"][0]["message"] == "Too many search results, please change the query of search."


def test_variant_lists_v21_only(env: Env) -> None:
    env.send("POST", "/es/2.0/inventories/bulk-upsert", {"inventories": records(2, "vl")})
    response = env.get("/es/2.1/inventories/variant-lists/manage-numbers/vl-0")
    assert response.status_code == 200
    assert [v["variantId"] for v in response.json()["variantList"]] == ["s0", "s1"]
    assert env.get("/es/2.0/inventories/variant-lists/manage-numbers/vl-0").status_code == 400
