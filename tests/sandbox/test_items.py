"""ItemAPI 2.0 contract: paths, success codes, manageNumber rules, upsert/patch semantics, search and limits."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.sandbox.conftest import Env

ITEM_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")


def new_item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "itemNumber": "TEE-01", "title": "オーガニックコットンTシャツ", "tagline": "やわらか", "itemType": "NORMAL",
        "genreId": "100371", "images": [{"type": "CABINET", "location": "/tees/tee01.jpg", "alt": "front"}],
        "variantSelectors": [{"key": "size", "displayName": "サイズ",
                              "values": [{"displayValue": "M"}, {"displayValue": "L"}]}],
        "variants": {
            "tee01-m": {"merchantDefinedSkuId": "TEE01-M", "selectorValues": {"size": "M"}, "standardPrice": 2980,
                        "articleNumber": {"exemptionReason": 3}, "shipping": {"postageIncluded": True}},
            "tee01-l": {"selectorValues": {"size": "L"}, "standardPrice": "2980"},
        },
    }
    item.update(over)
    return item


def codes(response: Any) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def test_get_returns_item_with_lower_case_number_and_jst_times(env: Env) -> None:
    response = env.get("/es/2.0/items/manage-numbers/KURA-00001")
    assert response.status_code == 200
    item = response.json()
    assert item["manageNumber"] == "kura-00001"
    assert ITEM_DT.match(item["created"]) and ITEM_DT.match(item["updated"])
    assert isinstance(item["variants"], dict) and item["variants"]


def test_get_unknown_item_is_404_ge0014(env: Env) -> None:
    response = env.get("/es/2.0/items/manage-numbers/nope")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=nope"}]}


def test_upsert_creates_with_201_then_replaces_with_204(env: Env) -> None:
    response = env.send("PUT", "/es/2.0/items/manage-numbers/Demo-Tee-01", new_item())
    assert response.status_code == 201
    assert response.json() == {"manageNumber": "demo-tee-01"}
    stored = env.get("/es/2.0/items/manage-numbers/demo-tee-01").json()
    assert stored["variants"]["tee01-m"]["standardPrice"] == "2980"  # numbers accepted, strings returned
    assert stored["hideItem"] is False
    replacement = new_item()
    del replacement["tagline"]
    response = env.send("PUT", "/es/2.0/items/manage-numbers/demo-tee-01", replacement)
    assert response.status_code == 204 and response.content == b""
    assert "tagline" not in env.get("/es/2.0/items/manage-numbers/demo-tee-01").json()  # full replace
    stock = env.client.get(f"/_sandbox/shops/{env.shop['shop_url']}/stock",
                           params={"manage_number": "demo-tee-01"}).json()["stock"]
    assert {s["variantId"] for s in stock} == {"tee01-m", "tee01-l"}


@pytest.mark.parametrize(("patch", "code", "path"), [
    ({"title": None}, "IE0001", "title"),
    ({"title": "あ" * 100}, "IE0004", "title"),
    ({"itemType": "GIFT"}, "IE0007", "itemType"),
    ({"genreId": "12"}, "IE0146", "genreId"),
    ({"unknownField": 1}, "IE0002", "unknownField"),
    ({"variantSelectors": None}, "IE0269", "variants"),
    ({"unlimitedInventoryFlag": True}, "IE0181", "unlimitedInventoryFlag"),
    ({"images": [{"type": "CABINET", "location": "/a/b.bmp"}]}, "IE0224", "images[0].location"),
    ({"images": [{"type": "CABINET", "location": "/a.jpg"}] * 21}, "IE1101", "images"),
])
def test_upsert_validation_errors(env: Env, patch: dict[str, Any], code: str, path: str) -> None:
    item = new_item()
    for key, value in patch.items():
        if value is None:
            item.pop(key)
        else:
            item[key] = value
    response = env.send("PUT", "/es/2.0/items/manage-numbers/bad-item", item)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(e["code"] == code and e.get("metadata", {}).get("propertyPath") == path for e in errors), errors
    assert env.get("/es/2.0/items/manage-numbers/bad-item").status_code == 404


def test_variant_rules(env: Env) -> None:
    item = new_item()
    item["variants"]["tee01-l"]["selectorValues"] = {"size": "L", "color": "red"}
    assert "IE0156" in codes(env.send("PUT", "/es/2.0/items/manage-numbers/v1", item))
    item = new_item()
    item["variants"]["tee01-l"]["standardPrice"] = "1000000000"
    assert "IE0003" in codes(env.send("PUT", "/es/2.0/items/manage-numbers/v1", item))
    item = new_item()
    item["variants"]["tee01-l"]["referencePrice"] = {"displayType": "OPEN_PRICE", "value": "3000"}
    assert "IE0193" in codes(env.send("PUT", "/es/2.0/items/manage-numbers/v1", item))
    item = new_item()
    item["variants"]["bad id!"] = item["variants"].pop("tee01-l")
    assert "IE0002" in codes(env.send("PUT", "/es/2.0/items/manage-numbers/v1", item))


def test_400_variants_allowed_401_rejected(env: Env) -> None:
    values = [{"displayValue": f"v{i}"} for i in range(40)]
    selectors = [{"key": "a", "displayName": "A", "values": values},
                 {"key": "b", "displayName": "B", "values": values[:11]}]

    def variants(count: int) -> dict[str, Any]:
        return {f"sku-{i}": {"standardPrice": "100", "selectorValues": {"a": f"v{i % 40}", "b": f"v{i // 40}"}}
                for i in range(count)}

    ok = env.send("PUT", "/es/2.0/items/manage-numbers/big",
                  new_item(variantSelectors=selectors, variants=variants(400)))
    assert ok.status_code == 201
    too_many = env.send("PUT", "/es/2.0/items/manage-numbers/big2",
                        new_item(variantSelectors=selectors, variants=variants(401)))
    assert too_many.status_code == 400 and "IE0003" in codes(too_many)


@pytest.mark.parametrize(("number", "code"), [("bad.number", "IE0220"), ("a" * 33, "IE0004")])
def test_manage_number_rules(env: Env, number: str, code: str) -> None:
    response = env.send("PUT", f"/es/2.0/items/manage-numbers/{number}", new_item())
    assert response.status_code == 400 and codes(response) == [code]


def test_media_type_and_empty_body(env: Env) -> None:
    response = env.client.put("/es/2.0/items/manage-numbers/x1", content=b"{}",
                              headers={**env.auth, "Content-Type": "text/plain"})
    assert response.status_code == 415 and codes(response) == ["GE0012"]
    response = env.client.put("/es/2.0/items/manage-numbers/x1", content=b"",
                              headers={**env.auth, "Content-Type": "application/json"})
    assert response.status_code == 400 and codes(response) == ["GE0011"]
    for content_type in ("application/json", "application/json;charset=utf-8", "application/json; charset=utf-8"):
        response = env.client.put("/es/2.0/items/manage-numbers/x1", content=b"{}",
                                  headers={**env.auth, "Content-Type": content_type})
        assert response.status_code == 400 and "IE0001" in codes(response)


def test_patch_touches_only_sent_fields_and_replaces_lists(env: Env) -> None:
    env.send("PUT", "/es/2.0/items/manage-numbers/p1", new_item(
        images=[{"type": "CABINET", "location": "/a.jpg"}, {"type": "GOLD", "location": "/b.png"}]))
    response = env.send("PATCH", "/es/2.0/items/manage-numbers/p1", {
        "hideItem": True, "images": [{"type": "GOLD", "location": "/c.gif"}],
        "variants": {"tee01-m": {"standardPrice": "2480"}}})
    assert response.status_code == 204
    item = env.get("/es/2.0/items/manage-numbers/p1").json()
    assert item["hideItem"] is True
    assert item["images"] == [{"type": "GOLD", "location": "/c.gif"}]
    assert item["variants"]["tee01-m"]["standardPrice"] == "2480"
    assert item["variants"]["tee01-m"]["merchantDefinedSkuId"] == "TEE01-M"
    assert item["tagline"] == "やわらか"
    assert env.send("PATCH", "/es/2.0/items/manage-numbers/nope", {"hideItem": True}).status_code == 404


def test_delete_then_gone(env: Env) -> None:
    assert env.send("DELETE", "/es/2.0/items/manage-numbers/kura-00002").status_code == 204
    assert env.get("/es/2.0/items/manage-numbers/kura-00002").status_code == 404
    assert env.send("DELETE", "/es/2.0/items/manage-numbers/kura-00002").status_code == 404
    found = env.get("/es/2.0/items/search", params={"manageNumber": "kura-00002"}).json()
    assert found["numFound"] == 0


@pytest.mark.parametrize(("params", "code"), [
    ({"hits": "101"}, "IE0003"), ({"hits": "0"}, "IE0003"), ({"offset": "10001"}, "IE0003"),
    ({"foo": "1"}, "IE1005"), ({"cursorMark": "*", "offset": "0"}, "IE1003"),
    ({"cursorMark": "*", "sortKey": "created"}, "IE1004"), ({"sortKey": "price"}, "IE0007"),
])
def test_search_limits(env: Env, params: dict[str, str], code: str) -> None:
    response = env.get("/es/2.0/items/search", params=params)
    assert response.status_code == 400 and codes(response)[0] == code


def test_search_offset_paging_sees_every_item_once(env: Env) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = env.get("/es/2.0/items/search", params={"hits": 7, "offset": offset, "sortKey": "manageNumber",
                                                        "sortOrder": "asc"}).json()
        assert page["numFound"] == 30 and page["offset"] == offset
        if not page["results"]:
            break
        seen += [r["item"]["manageNumber"] for r in page["results"]]
        offset += 7
    assert seen == sorted(seen) and len(set(seen)) == 30


def test_search_cursor_paging_ends_when_mark_repeats(env: Env) -> None:
    mark, seen, rounds = "*", [], 0
    while rounds < 20:
        page = env.get("/es/2.0/items/search", params={"hits": 8, "cursorMark": mark}).json()
        seen += [r["item"]["manageNumber"] for r in page["results"]]
        if page["nextCursorMark"] == mark:
            break
        mark, rounds = page["nextCursorMark"], rounds + 1
    assert len(seen) == 30 and len(set(seen)) == 30
    assert "nextCursorMark" not in env.get("/es/2.0/items/search").json()


def test_search_filters(env: Env) -> None:
    hidden = env.get("/es/2.0/items/search", params={"isHiddenItem": "true", "hits": 100}).json()
    visible = env.get("/es/2.0/items/search", params={"isHiddenItem": "false", "hits": 100}).json()
    assert hidden["numFound"] + visible["numFound"] == 30
    assert all(r["item"]["hideItem"] for r in hidden["results"])
    title = env.get("/es/2.0/items/manage-numbers/kura-00003").json()["title"].split()[0]
    by_title = env.get("/es/2.0/items/search", params={"title": title, "hits": 100}).json()
    assert by_title["numFound"] >= 1 and all(title in r["item"]["title"] for r in by_title["results"])


def test_bulk_get_limits(env: Env) -> None:
    response = env.send("POST", "/es/2.0/items/bulk-get", {"manageNumbers": ["kura-00001", "KURA-00002", "nope"]})
    assert response.status_code == 200
    assert [i["manageNumber"] for i in response.json()["results"]] == ["kura-00001", "kura-00002"]
    duplicate = env.send("POST", "/es/2.0/items/bulk-get", {"manageNumbers": ["kura-00001", "KURA-00001"]})
    assert duplicate.status_code == 400 and codes(duplicate) == ["IE1106"]
    too_many = env.send("POST", "/es/2.0/items/bulk-get", {"manageNumbers": [f"n{i}" for i in range(51)]})
    assert too_many.status_code == 400 and codes(too_many) == ["IE1101"]


def test_inventory_related_settings(env: Env) -> None:
    env.send("PUT", "/es/2.0/items/manage-numbers/s1", new_item())
    got = env.get("/es/2.0/items/inventory-related-settings/manage-numbers/s1")
    assert got.status_code == 200
    assert set(got.json()["variants"]) == {"tee01-m", "tee01-l"}
    body = {"unlimitedInventoryFlag": False, "features": {"inventoryDisplay": "DISPLAY_LOW_STOCK",
                                                          "lowStockThreshold": 3},
            "variants": {"tee01-m": {"restockOnCancel": True, "backOrderFlag": False}}}
    assert env.send("PUT", "/es/2.0/items/inventory-related-settings/manage-numbers/s1", body).status_code == 204
    item = env.get("/es/2.0/items/manage-numbers/s1").json()
    assert item["features"]["lowStockThreshold"] == 3 and item["variants"]["tee01-m"]["restockOnCancel"] is True
    body["features"] = {"inventoryDisplay": "DISPLAY_LOW_STOCK"}
    response = env.send("PUT", "/es/2.0/items/inventory-related-settings/manage-numbers/s1", body)
    assert response.status_code == 400 and codes(response) == ["IE0162"]


def test_shop_not_migrated_to_sku_gets_ie1105(env: Env) -> None:
    shop = env.client.post("/_sandbox/shops", json={"sku_migrated": False}).json()
    from rms_sandbox.testing import esa_header
    header = {"Authorization": esa_header(shop["service_secret"], shop["license_key"]),
              "Content-Type": "application/json"}
    response = env.client.put("/es/2.0/items/manage-numbers/x", json=new_item(), headers=header)
    assert response.status_code == 400 and codes(response) == ["IE1105"]
    response = env.client.get("/es/2.0/inventories/bulk-get/range?minQuantity=0", headers=header)
    assert response.status_code == 200


def test_unknown_item_path_is_ge0007(env: Env) -> None:
    response = env.get("/es/2.0/items/getItems")
    assert response.status_code == 400 and codes(response) == ["GE0007"]
