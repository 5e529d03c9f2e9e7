"""Product pages: list with search and filters (whole page and htmx part), detail, create all three types, edit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kura.catalog.models import Product, Sku
from kura.db import Database
from tests.web.pages_support import field_values, post_form, seed_shop, token

EN = {"Accept-Language": "en"}


def _group_pairs(csrf: str, client: TestClient, code: str = "TS") -> list[tuple[str, str]]:
    axes = {
        "code": code,
        "axis_name_1": "カラー",
        "axis_values_1": "赤, 青、白",
        "axis_name_2": "サイズ",
        "axis_values_2": "M,L",
    }
    grid = post_form(client, "/products/new/variants", axes, headers={"X-CSRF-Token": csrf})
    assert grid.status_code == 200
    pairs = [
        ("csrf_token", csrf),
        ("type", "group"),
        ("name", "Tシャツ"),
        ("selling_price", "1,980"),
        ("active", "1"),
        *axes.items(),
    ]
    for key, sku in zip(field_values(grid.text, "variant_key"), field_values(grid.text, "variant_sku"), strict=True):
        pairs += [("variant_key", key), ("variant_sku", sku), ("variant_price", "")]
    return pairs


def test_list_search_and_filters(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    page = signed_in.get("/products", headers=EN)
    assert page.status_code == 200 and "TEE-RED" in page.text and "MUG-1" in page.text
    assert "TEE-RED" in signed_in.get("/products?q=tee-r").text  # SKU, any case
    assert "MUG-1" not in signed_in.get("/products?q=tee-r").text
    assert "TEE-RED" in signed_in.get("/products?q=シャツ").text  # name
    inactive = signed_in.get("/products?active=0").text
    assert "MUG-1" in inactive and "TEE-RED" not in inactive
    assert "MUG-1" not in signed_in.get("/products?brand=Kura").text
    assert "TEE-RED" in signed_in.get("/products?type=single").text
    assert "No products match" in signed_in.get("/products?type=kit", headers=EN).text


def test_live_filter_returns_only_the_results_part(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    part = signed_in.get("/products?q=MUG", headers={"HX-Request": "true", "HX-Target": "results"})
    assert part.status_code == 200
    assert "<html" not in part.text and "MUG-1" in part.text and "TEE-RED" not in part.text


def test_pagination_shows_fifty_and_links_the_next_page(signed_in: TestClient, db: Database) -> None:
    from kura.catalog.service import ProductFields, create_single

    with db.transaction() as s:
        for i in range(55):
            create_single(s, f"P-{i:03d}", ProductFields(name=f"item {i}", selling_price=100))
    first = signed_in.get("/products", headers=EN).text
    assert "1–50 of 55" in first and 'rel="next"' in first
    second = signed_in.get("/products?page=2", headers=EN).text
    assert "P-000" in second and "P-054" not in second


def test_create_group_with_six_variants(signed_in: TestClient, db: Database) -> None:
    csrf = token(signed_in)
    response = post_form(signed_in, "/products/new", _group_pairs(csrf, signed_in), follow_redirects=False)
    assert response.status_code == 303, response.text
    detail = signed_in.get(response.headers["location"], headers=EN)
    assert "The product was created" in detail.text
    for sku in ("TS-赤-M", "TS-青-L", "TS-白-M"):
        assert sku in detail.text
    assert "¥1,980" in detail.text
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Sku)) == 6


def test_a_failing_variant_writes_nothing_and_says_what_to_fix(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    csrf = token(signed_in)
    pairs = _group_pairs(csrf, signed_in)
    pairs = [("variant_sku", "TEE-RED") if (k, v) == ("variant_sku", "TS-白-L") else (k, v) for k, v in pairs]
    response = post_form(signed_in, "/products/new", pairs, headers=EN)
    assert response.status_code == 409 or response.status_code == 422
    assert "Nothing was saved" in response.text and "TEE-RED" in response.text and "exists already" in response.text
    assert 'value="TS-赤-M"' in response.text  # the form comes back as it was
    with db.reader() as s:
        assert s.scalar(select(Product.id).where(Product.code == "TS")) is None


def test_create_single_validates_price_and_name(signed_in: TestClient, db: Database) -> None:
    csrf = token(signed_in)
    bad = post_form(
        signed_in,
        "/products/new",
        {"csrf_token": csrf, "type": "single", "code": "S-1", "name": "x", "selling_price": "abc"},
        headers=EN,
    )
    assert bad.status_code == 422 and "selling_price must be a whole number" in bad.text
    assert 'class="invalid"' in bad.text
    nameless = post_form(
        signed_in,
        "/products/new",
        {"csrf_token": csrf, "type": "single", "code": "S-1", "selling_price": "100"},
        headers=EN,
    )
    assert nameless.status_code == 422 and "Give the product a name" in nameless.text
    ok = post_form(
        signed_in,
        "/products/new",
        {"csrf_token": csrf, "type": "single", "code": "S-1", "name": "石鹸", "selling_price": "５００", "active": "1"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "¥500" in signed_in.get(ok.headers["location"], headers=EN).text


def test_create_kit_from_components(signed_in: TestClient, db: Database) -> None:
    seed_shop(db)
    csrf = token(signed_in)
    pairs = [
        ("csrf_token", csrf),
        ("type", "kit"),
        ("code", "GIFT"),
        ("name", "ギフトセット"),
        ("selling_price", "3000"),
        ("component_sku", "TEE-RED"),
        ("component_qty", "2"),
        ("component_sku", "MUG-1"),
        ("component_qty", "1"),
        ("component_sku", ""),
        ("component_qty", "1"),
    ]
    response = post_form(signed_in, "/products/new", pairs, follow_redirects=False)
    assert response.status_code == 303, response.text
    detail = signed_in.get(response.headers["location"], headers=EN).text
    assert "Kit components" in detail and "MUG-1" in detail
    unknown = post_form(
        signed_in,
        "/products/new",
        [*pairs[:2], ("code", "GIFT2"), *pairs[3:5], ("component_sku", "NOPE"), ("component_qty", "1")],
        headers=EN,
    )
    assert unknown.status_code == 422 and "&#39;NOPE&#39; does not exist" in unknown.text


def test_edit_changes_fields_and_variant_prices(signed_in: TestClient, db: Database) -> None:
    csrf = token(signed_in)
    created = post_form(signed_in, "/products/new", _group_pairs(csrf, signed_in), follow_redirects=False)
    url = created.headers["location"].split("?")[0]
    form = signed_in.get(url + "/edit")
    assert form.status_code == 200
    with db.reader() as s:
        skus = {sku.code: sku.id for sku in s.scalars(select(Sku))}
    pairs = (
        [("csrf_token", csrf), ("name", "Tシャツ 改"), ("selling_price", "2200"), ("active", "1"), ("brand", "Kura")]
        + [(f"active__{i}", "1") for i in skus.values()]
        + [(f"price__{skus['TS-赤-M']}", "2500")]
    )
    saved = post_form(signed_in, url + "/edit", pairs, follow_redirects=False)
    assert saved.status_code == 303
    detail = signed_in.get(url, headers=EN).text
    assert "Tシャツ 改" in detail and "¥2,500" in detail and "¥2,200" in detail
    bad = post_form(
        signed_in, url + "/edit", [("csrf_token", csrf), ("name", "x"), ("selling_price", "-5")], headers=EN
    )
    assert bad.status_code == 422 and "selling_price must be 0 or more" in bad.text


def test_product_pages_in_japanese(signed_in: TestClient, db: Database) -> None:
    ids = seed_shop(db)
    assert "通常商品を追加" in signed_in.get("/products", headers={"Accept-Language": "ja"}).text
    assert "倉庫別在庫" in signed_in.get(f"/products/{ids['red']}", headers={"Accept-Language": "ja"}).text


def test_unknown_product_is_a_404_page(signed_in: TestClient) -> None:
    assert signed_in.get("/products/999").status_code == 404
