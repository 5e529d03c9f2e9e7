"""Catalog rules: unique trimmed case-sensitive SKUs, groups with axes, kits with components, search."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kura.catalog.models import ProductType
from kura.catalog.service import (
    VariantSpec,
    add_variant,
    brands,
    create_group,
    create_kit,
    create_single,
    get_product,
    get_sku,
    search_products,
    set_kit_components,
    update_product,
    update_sku,
)
from kura.db import Database
from kura.errors import Conflict, Invalid, NotFound
from tests.domain.factories import add_single, fields


def test_duplicate_sku_is_refused_with_a_message_naming_it(db: Database) -> None:
    add_single(db, "TS-001")
    with pytest.raises(Conflict) as e, db.transaction() as s:
        create_single(s, " TS-001 ", fields())
    assert "'TS-001'" in e.value.message and "unique" in e.value.message
    assert e.value.details["field"] == "sku"


def test_sku_is_trimmed_and_case_sensitive(db: Database) -> None:
    add_single(db, "  ts-001\t")
    add_single(db, "TS-001")  # differs only in case: another SKU
    with db.reader() as s:
        assert get_sku(s, "ts-001").code == "ts-001"
        assert get_sku(s, "TS-001").product.code == "TS-001"
        with pytest.raises(NotFound):
            get_sku(s, "Ts-001")


@pytest.mark.parametrize("bad", ["", "   ", "A\nB", "x" * 101])
def test_malformed_sku_is_refused(db: Database, bad: str) -> None:
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_single(s, bad, fields())
    assert e.value.field == "sku"


def test_single_product_keeps_its_fields(db: Database) -> None:
    images = ["https://img.example/2.jpg", "https://img.example/1.jpg"]
    with db.transaction() as s:
        product = create_single(
            s,
            "MUG-1",
            fields(
                "マグカップ",
                1650,
                retail_price=2200,
                brand="Kura",
                description="陶器",
                images=images,
                attributes={"素材": "陶器", "容量ml": 350},
            ),
        )
        product_id = product.id
    with db.reader() as s:
        p = get_product(s, product_id)
        assert (p.type, p.code, p.name, p.brand) == (ProductType.single, "MUG-1", "マグカップ", "Kura")
        assert (p.selling_price, p.retail_price) == (1650, 2200)
        assert p.images == images  # order kept
        assert p.attributes == {"素材": "陶器", "容量ml": 350}
        assert p.sku is not None and p.sku.code == "MUG-1"
        stored = s.execute(text("SELECT selling_price FROM products WHERE id = :i"), {"i": product_id}).scalar()
        assert isinstance(stored, int)


@pytest.mark.parametrize("price", [-1, 19.8, "1980", True])
def test_price_must_be_whole_non_negative_yen(db: Database, price: object) -> None:
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_single(s, "X", fields(price=price))  # type: ignore[arg-type]
    assert e.value.field == "selling_price"


def test_group_variants_inherit_the_group_price_unless_they_set_their_own(db: Database) -> None:
    with db.transaction() as s:
        group = create_group(
            s,
            "SHIRT",
            fields("シャツ", 3000, retail_price=4000),
            ["カラー", "サイズ"],
            [
                VariantSpec("SHIRT-RED-M", {"カラー": "赤", "サイズ": "M"}),
                VariantSpec("SHIRT-RED-L", {"サイズ": "L", "カラー": "赤"}, selling_price=3300),
            ],
        )
        group_id = group.id
    with db.reader() as s:
        g = get_product(s, group_id)
        assert g.type == ProductType.group and g.axes == ["カラー", "サイズ"] and g.sku is None
        m, large = g.skus
        assert (m.effective_selling_price, m.effective_retail_price) == (3000, 4000)
        assert large.effective_selling_price == 3300
        assert list(large.axis_values) == ["カラー", "サイズ"]  # stored in axis order


def test_group_variant_needs_a_value_for_every_axis(db: Database) -> None:
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_group(s, "SHIRT", fields(), ["カラー", "サイズ"], [VariantSpec("S-1", {"カラー": "赤"})])
    assert e.value.field == "axis_values" and "サイズ" in e.value.message


def test_each_variant_combination_appears_once(db: Database) -> None:
    with db.transaction() as s:
        group_id = create_group(s, "SHIRT", fields(), ["カラー"], [VariantSpec("S-RED", {"カラー": "赤"})]).id
    with pytest.raises(Conflict) as e, db.transaction() as s:
        add_variant(s, group_id, VariantSpec("S-RED-2", {"カラー": "赤"}))
    assert "S-RED" in e.value.message and e.value.details["field"] == "axis_values"
    with pytest.raises(Conflict) as e, db.transaction() as s:
        create_group(s, "SHIRT2", fields(), ["カラー"], [VariantSpec("S-RED", {"カラー": "青"})])
    assert "'S-RED' exists already" in e.value.message


def test_variant_prices_can_be_set_and_cleared(db: Database) -> None:
    with db.transaction() as s:
        create_group(s, "SHIRT", fields(price=3000), ["カラー"], [VariantSpec("S-RED", {"カラー": "赤"})])
        assert update_sku(s, "S-RED", {"selling_price": 2500}).effective_selling_price == 2500
        assert update_sku(s, "S-RED", {"selling_price": None}).effective_selling_price == 3000


def test_kit_components_must_exist_and_not_be_kits(db: Database) -> None:
    add_single(db, "A")
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 1, "NOPE": 2})
    assert "NOPE" in e.value.message
    with db.transaction() as s:
        create_kit(s, "KIT", fields(), {"A": 2})
    with pytest.raises(Invalid) as e, db.transaction() as s:
        create_kit(s, "KIT2", fields(), {"KIT": 1})
    assert "kit" in e.value.message
    with pytest.raises(Invalid), db.transaction() as s:
        set_kit_components(s, "KIT", {"A": 0})
    with db.reader() as s:
        kit = get_sku(s, "KIT")
        assert [(c.component.code, c.quantity) for c in kit.components] == [("A", 2)]


def test_update_product_changes_only_the_given_fields(db: Database) -> None:
    product_id = add_single(db, "A", name="旧名", price=1000)
    with db.transaction() as s:
        update_product(s, product_id, {"name": "新名", "active": False})
    with db.reader() as s:
        p = get_product(s, product_id)
        assert (p.name, p.selling_price, p.active) == ("新名", 1000, False)
    with pytest.raises(Invalid) as e, db.transaction() as s:
        update_product(s, product_id, {"code": "B"})
    assert e.value.field == "code"


def test_search_finds_products_by_name_code_or_variant_sku_with_filters_and_counts(db: Database) -> None:
    for i in range(30):
        add_single(db, f"MUG-{i:03d}", name=f"マグ {i}", brand="Kura" if i % 2 else "Other")
    with db.transaction() as s:
        create_group(s, "TEE", fields("Tシャツ"), ["サイズ"], [VariantSpec("TEE-XL", {"サイズ": "XL"})])
        update_product(s, s.scalar(text("SELECT id FROM products WHERE code = 'MUG-000'")), {"active": False})
    with db.reader() as s:
        page = search_products(s, q="mug", limit=10, offset=0)
        assert page.total == 30 and len(page.items) == 10
        assert page.items[0].code == "MUG-029"  # newest first
        assert search_products(s, q="tee-x").items[0].code == "TEE"  # a variant's SKU finds its group
        assert search_products(s, q="マグ 1").total == 11  # 1, 10–19
        assert search_products(s, type="group").total == 1
        assert search_products(s, brand="Kura").total == 15
        assert search_products(s, active=False).total == 1
        assert search_products(s, q="100%").total == 0  # LIKE wildcards are literal
        assert brands(s) == ["Kura", "Other"]
        with pytest.raises(Invalid):
            search_products(s, limit=0)
