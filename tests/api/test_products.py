"""Products and SKUs over the API: the three product types, reading, changing, deleting, searching."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import create_order, receive, single, store, warehouse


def test_creating_a_single_product_returns_it_with_its_one_sku(api: TestClient) -> None:
    response = api.post(
        "/api/v1/products",
        json={"type": "single", "sku": "TS-RED", "name": "Tシャツ 赤", "selling_price": 1980, "retail_price": 2500,
              "brand": "Kura", "images": ["https://example.jp/a.jpg"], "attributes": {"素材": "綿"}},
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["type"] == "single" and body["code"] == "TS-RED" and body["selling_price"] == 1980
    assert body["brand"] == "Kura" and body["attributes"] == {"素材": "綿"}
    assert [s["code"] for s in body["skus"]] == ["TS-RED"]
    assert body["skus"][0]["effective_selling_price"] == 1980
    assert body["created_at"].endswith("Z")


def test_creating_a_kit_lists_its_components(api: TestClient) -> None:
    single(api, "CUP")
    single(api, "SAUCER")
    response = api.post(
        "/api/v1/products",
        json={"type": "kit", "sku": "CUP-SET", "name": "カップセット", "selling_price": 5000,
              "components": [{"sku": "CUP", "quantity": 2}, {"sku": "SAUCER", "quantity": 2}]},
    )  # fmt: skip
    assert response.status_code == 201
    kit = response.json()["skus"][0]
    assert kit["product_type"] == "kit"
    assert kit["components"] == [{"sku": "CUP", "quantity": 2}, {"sku": "SAUCER", "quantity": 2}]


def test_a_kit_of_an_unknown_component_is_refused_naming_it(api: TestClient) -> None:
    response = api.post(
        "/api/v1/products",
        json={"type": "kit", "sku": "SET", "name": "セット", "selling_price": 1,
              "components": [{"sku": "GHOST", "quantity": 1}]},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert "GHOST" in response.json()["message"]


def test_creating_a_group_with_axes_and_variants(api: TestClient) -> None:
    response = api.post(
        "/api/v1/products",
        json={"type": "group", "code": "SHIRT", "name": "シャツ", "selling_price": 3000, "axes": ["カラー", "サイズ"],
              "variants": [{"sku": "SHIRT-R-M", "axis_values": {"カラー": "赤", "サイズ": "M"}},
                           {"sku": "SHIRT-B-L", "axis_values": {"カラー": "青", "サイズ": "L"},
                            "selling_price": 3500}]},
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["axes"] == ["カラー", "サイズ"]
    prices = {s["code"]: (s["selling_price"], s["effective_selling_price"]) for s in body["skus"]}
    assert prices == {"SHIRT-R-M": (None, 3000), "SHIRT-B-L": (3500, 3500)}


def test_a_variant_missing_an_axis_value_is_refused(api: TestClient) -> None:
    response = api.post(
        "/api/v1/products",
        json={"type": "group", "code": "G", "name": "g", "selling_price": 1, "axes": ["カラー", "サイズ"],
              "variants": [{"sku": "G-1", "axis_values": {"カラー": "赤"}}]},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["details"]["field"] == "axis_values"


def test_adding_a_variant_to_a_group(api: TestClient) -> None:
    group = api.post(
        "/api/v1/products",
        json={"type": "group", "code": "G", "name": "g", "selling_price": 100, "axes": ["サイズ"]},
    ).json()
    response = api.post(f"/api/v1/products/{group['id']}/variants", json={"sku": "G-S", "axis_values": {"サイズ": "S"}})
    assert response.status_code == 201
    assert response.json()["axis_values"] == {"サイズ": "S"}
    assert [s["code"] for s in api.get(f"/api/v1/products/{group['id']}").json()["skus"]] == ["G-S"]


def test_a_duplicate_sku_is_a_conflict(api: TestClient) -> None:
    single(api, "DUP")
    response = api.post("/api/v1/products", json={"type": "single", "sku": "DUP", "name": "x", "selling_price": 1})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "DUP" in response.json()["message"]


def test_reading_a_product_and_an_unknown_one(api: TestClient) -> None:
    product = single(api, "A-1")
    response = api.get(f"/api/v1/products/{product['id']}")
    assert response.status_code == 200
    assert response.json()["code"] == "A-1"
    missing = api.get("/api/v1/products/999999")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "No product with id 999999."}


def test_patch_changes_only_the_given_fields(api: TestClient) -> None:
    product = single(api, "P-1", price=1000, brand="Old")
    response = api.patch(f"/api/v1/products/{product['id']}", json={"name": "新しい名前", "brand": None})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "新しい名前" and body["brand"] is None and body["selling_price"] == 1000


def test_patch_refuses_null_for_a_required_field_and_an_empty_body(api: TestClient) -> None:
    product = single(api, "P-2")
    response = api.patch(f"/api/v1/products/{product['id']}", json={"selling_price": None})
    assert response.status_code == 422
    assert "selling_price" in response.json()["message"]
    empty = api.patch(f"/api/v1/products/{product['id']}", json={})
    assert empty.status_code == 422
    assert "Nothing to change" in empty.json()["message"]


def test_patch_refuses_fields_that_do_not_exist(api: TestClient) -> None:
    product = single(api, "P-3")
    response = api.patch(f"/api/v1/products/{product['id']}", json={"sku": "OTHER"})
    assert response.status_code == 422
    assert response.json()["details"]["problems"][0]["field"] == "sku"


def test_patch_replaces_a_kits_components_and_refuses_them_on_a_single(api: TestClient) -> None:
    single(api, "C-1")
    single(api, "C-2")
    kit = api.post("/api/v1/products", json={"type": "kit", "sku": "K", "name": "k", "selling_price": 1,
                                             "components": [{"sku": "C-1", "quantity": 1}]}).json()  # fmt: skip
    response = api.patch(f"/api/v1/products/{kit['id']}", json={"components": [{"sku": "C-2", "quantity": 3}]})
    assert response.status_code == 200
    assert response.json()["skus"][0]["components"] == [{"sku": "C-2", "quantity": 3}]
    plain = single(api, "C-3")
    refused = api.patch(f"/api/v1/products/{plain['id']}", json={"components": [{"sku": "C-2", "quantity": 1}]})
    assert refused.status_code == 422
    assert "only kits" in refused.json()["message"]


def test_deleting_an_unreferenced_product_removes_it(api: TestClient) -> None:
    product = single(api, "GONE")
    response = api.delete(f"/api/v1/products/{product['id']}")
    assert response.status_code == 204
    assert api.get(f"/api/v1/products/{product['id']}").status_code == 404
    assert api.get("/api/v1/skus/GONE").status_code == 404


def test_deleting_a_product_with_stock_history_is_a_conflict_suggesting_deactivation(api: TestClient) -> None:
    product = single(api, "KEEP")
    receive(api, "KEEP", warehouse(api, "TOKYO"), 5)
    response = api.delete(f"/api/v1/products/{product['id']}")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert "Deactivate" in body["message"]
    assert "stock ledger entries" in body["details"]["references"]


def test_deleting_an_ordered_product_or_a_kit_component_is_a_conflict(api: TestClient) -> None:
    ordered = single(api, "ORDERED")
    create_order(api, store(api), [{"sku": "ORDERED", "quantity": 1}])
    assert api.delete(f"/api/v1/products/{ordered['id']}").json()["details"]["references"] == ["order lines"]
    part = single(api, "PART")
    api.post("/api/v1/products", json={"type": "kit", "sku": "KIT", "name": "k", "selling_price": 1,
                                       "components": [{"sku": "PART", "quantity": 1}]})  # fmt: skip
    response = api.delete(f"/api/v1/products/{part['id']}")
    assert response.status_code == 409
    assert response.json()["details"]["references"] == ["kits using it as a component"]


def test_search_by_sku_or_name_and_filter_by_type_brand_active(api: TestClient) -> None:
    single(api, "ABC-1", brand="Acme")
    single(api, "XYZ-2", brand="Other", active=False)
    api.post(
        "/api/v1/products",
        json={
            "type": "group",
            "code": "GRP",
            "name": "帽子",
            "selling_price": 1,
            "axes": ["色"],
            "variants": [{"sku": "HAT-RED", "axis_values": {"色": "赤"}}],
        },
    )

    def codes(**params: object) -> list[str]:
        response = api.get("/api/v1/products", params=params)
        assert response.status_code == 200
        return [p["code"] for p in response.json()["items"]]

    assert codes(q="abc") == ["ABC-1"]
    assert codes(q="hat-red") == ["GRP"]  # a variant's SKU finds its group
    assert codes(q="帽子") == ["GRP"]
    assert codes(type="group") == ["GRP"]
    assert codes(brand="Acme") == ["ABC-1"]
    assert codes(active="false") == ["XYZ-2"]
    assert codes() == ["GRP", "XYZ-2", "ABC-1"]  # newest first


def test_product_list_is_paged_with_a_total(api: TestClient) -> None:
    for i in range(5):
        single(api, f"S-{i}")
    body = api.get("/api/v1/products", params={"limit": 2, "offset": 2}).json()
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 2
    assert [p["code"] for p in body["items"]] == ["S-2", "S-1"]


def test_reading_and_patching_a_variant_sku(api: TestClient) -> None:
    api.post(
        "/api/v1/products",
        json={
            "type": "group",
            "code": "G",
            "name": "g",
            "selling_price": 1000,
            "axes": ["色"],
            "variants": [{"sku": "G/RED", "axis_values": {"色": "赤"}}],
        },
    )
    response = api.get("/api/v1/skus/G/RED")  # a slash in a SKU still finds it
    assert response.status_code == 200
    assert response.json()["effective_selling_price"] == 1000
    patched = api.patch("/api/v1/skus/G/RED", json={"selling_price": 1200, "active": False})
    assert patched.status_code == 200
    assert patched.json()["selling_price"] == 1200 and patched.json()["effective_active"] is False
    back = api.patch("/api/v1/skus/G/RED", json={"selling_price": None})
    assert back.json()["selling_price"] is None and back.json()["effective_selling_price"] == 1000


def test_patching_a_sku_refuses_a_negative_price_and_a_null_active(api: TestClient) -> None:
    single(api, "N-1")
    negative = api.patch("/api/v1/skus/N-1", json={"selling_price": -5})
    assert negative.status_code == 422
    assert "selling_price" in negative.json()["message"]
    null = api.patch("/api/v1/skus/N-1", json={"active": None})
    assert null.status_code == 422
    assert "active can't be null" in null.json()["message"]
    assert api.patch("/api/v1/skus/NOPE", json={"active": True}).status_code == 404
