"""Listing Kura products on Rakuten over real HTTP against the RMS sandbox: single, kit and group items, prices,
initial stock (through the stock pusher, with the store's buffers and warehouses), validation errors per field,
hide/unhide and delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kura.catalog.service import VariantSpec, create_group, create_kit, create_single
from kura.channels.rakuten.errors import NotFound as RmsNotFound
from kura.channels.rakuten.listing import delete_listing, list_product, set_hidden
from kura.db import Database
from kura.inventory.channel_stock import set_sku_buffer, set_store_buffer
from kura.inventory.service import create_warehouse
from kura.jobs import outbox
from kura.stores.models import Binding, BindingEntity, SyncLogEntry
from kura.stores.warehouses import set_store_warehouses
from rms_sandbox.testing import RunningSandbox
from tests.listing.conftest import fields, push_stock, rms, sandbox_qty, stock, unique


def test_a_single_product_is_listed_with_its_prices_and_its_stock(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    code = unique("TEE")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("オーガニックTシャツ", 2980, 3480)).id
    stock(db, warehouse_id, code, 7)

    result = list_product(db, store_id, product_id)

    assert result.listed and result.created and not result.problems
    assert result.manage_number == code.lower()
    item = rms(sandbox).get_item(code.lower())
    assert item["title"] == "オーガニックTシャツ" and item["itemType"] == "NORMAL" and item["genreId"] == "100371"
    assert "variantSelectors" not in item or not item["variantSelectors"]
    variant = item["variants"][code]
    assert variant["merchantDefinedSkuId"] == code
    assert str(variant["standardPrice"]) == "2980"
    assert variant["referencePrice"]["displayType"] == "REFERENCE_PRICE"
    assert str(variant["referencePrice"]["value"]) == "3480"
    assert result.stock == {code: 5}  # 7 − the default buffer of 2
    assert push_stock(db, store_id)["pushed"] == 1
    assert sandbox_qty(sandbox, code.lower()) == [5]
    with db.reader() as s:
        bound = {(b.entity, b.external_id) for b in s.scalars(select(Binding).where(Binding.store_id == store_id))}
    assert bound == {(BindingEntity.product, code.lower()), (BindingEntity.sku, f"{code.lower()}/{code}")}


def test_selling_price_only_sends_no_reference_price(db: Database, sandbox: RunningSandbox, store_id: int) -> None:
    code = unique("MUG")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("マグカップ", 1200)).id
    assert list_product(db, store_id, product_id).listed
    variant = rms(sandbox).get_item(code.lower())["variants"][code]
    assert str(variant["standardPrice"]) == "1200" and "referencePrice" not in variant


def test_a_kit_is_listed_with_the_stock_its_components_allow(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    a, b, kit = unique("CUP"), unique("SAUCER"), unique("SET")
    with db.transaction() as s:
        create_single(s, a, fields("カップ", 800))
        create_single(s, b, fields("ソーサー", 600))
        kit_id = create_kit(s, kit, fields("カップ＆ソーサー", 1300), {a: 1, b: 2}).id
    stock(db, warehouse_id, a, 10)
    stock(db, warehouse_id, b, 7)  # 7 // 2 = 3 kits

    result = list_product(db, store_id, kit_id)

    assert result.listed and result.stock == {kit: 1}  # 3 kits − the default buffer of 2
    item = rms(sandbox).get_item(kit.lower())
    assert item["variants"][kit]["articleNumber"] == {"exemptionReason": 1}  # a set
    push_stock(db, store_id)
    assert sandbox_qty(sandbox, kit.lower()) == [1]


def test_the_stock_sent_at_listing_respects_the_buffers_and_the_mapped_warehouses(
    db: Database, sandbox: RunningSandbox, store_id: int, warehouse_id: int
) -> None:
    """Listing sends what the stock pusher sends (one code path), never the raw availability."""
    code = unique("CAP")
    skus = [f"{code}-S", f"{code}-L"]
    with db.transaction() as s:
        product = create_group(s, code, fields("キャップ", 2500), ["サイズ"], [
            VariantSpec(skus[0], {"サイズ": "S"}), VariantSpec(skus[1], {"サイズ": "L"})])  # fmt: skip
        product_id, sku_l = product.id, product.skus[1].id
        other = create_warehouse(s, "OSAKA", "大阪倉庫").id
        set_store_warehouses(s, store_id, [warehouse_id])  # Osaka's stock is not this store's
        set_store_buffer(s, store_id, "units", 3)
        set_sku_buffer(s, store_id, sku_l, "percent", 50)
    stock(db, warehouse_id, skus[0], 10)
    stock(db, warehouse_id, skus[1], 11)
    stock(db, other, skus[0], 100)
    result = list_product(db, store_id, product_id)

    # S: 10 in Tokyo − store buffer 3 = 7; L: 11 − ⌈50 % of 11⌉ = 5; Osaka's 100 count for neither
    assert result.listed and result.stock == {skus[0]: 7, skus[1]: 5}
    with db.reader() as s:
        assert {r.key for r in outbox.pending(s, store_id, kind="stock")} == set(skus)
    assert push_stock(db, store_id)["pushed"] == 2
    got = {r["variantId"]: int(r["quantity"]) for r in sandbox.admin.stock(sandbox.shop["shop_id"],
                                                                           manage_number=code.lower())}  # fmt: skip
    assert got == {skus[0]: 7, skus[1]: 5}


def test_listing_without_stock_marks_nothing(db: Database, store_id: int, warehouse_id: int) -> None:
    code = unique("BAG")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("バッグ", 5000)).id
    stock(db, warehouse_id, code, 4)
    result = list_product(db, store_id, product_id, send_stock=False)
    assert result.listed and result.stock == {}
    with db.reader() as s:
        assert not outbox.pending(s, store_id, kind="stock")


def test_a_group_is_listed_with_variant_selectors_and_one_variant_per_sku(
    db: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("POLO")
    skus = [f"{code}-R-M", f"{code}-R-L", f"{code}-B-M"]
    with db.transaction() as s:
        product_id = create_group(s, code, fields("ポロシャツ", 3980, 4980), ["カラー", "サイズ"], [
            VariantSpec(skus[0], {"カラー": "赤", "サイズ": "M"}),
            VariantSpec(skus[1], {"カラー": "赤", "サイズ": "L"}, selling_price=4280),
            VariantSpec(skus[2], {"カラー": "青", "サイズ": "M"}, active=False),
        ]).id  # fmt: skip

    assert list_product(db, store_id, product_id).listed

    item = rms(sandbox).get_item(code.lower())
    selectors = {s["displayName"]: [v["displayValue"] for v in s["values"]] for s in item["variantSelectors"]}
    assert selectors == {"カラー": ["赤", "青"], "サイズ": ["M", "L"]}
    key = {s["displayName"]: s["key"] for s in item["variantSelectors"]}
    variants = item["variants"]
    assert set(variants) == set(skus)
    assert variants[skus[1]]["selectorValues"] == {key["カラー"]: "赤", key["サイズ"]: "L"}
    assert [str(variants[s]["standardPrice"]) for s in skus] == ["3980", "4280", "3980"]
    assert str(variants[skus[0]]["referencePrice"]["value"]) == "4980"
    assert variants[skus[2]]["hidden"] is True


def test_rms_validation_errors_come_back_per_field_with_the_fix(
    db: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("BAD")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("あ" * 100, 1000, attributes={"genre_id": "12"})).id

    result = list_product(db, store_id, product_id)

    assert not result.listed
    by_path = {p.property_path: p for p in result.problems}
    assert by_path["genreId"].field == "genre_id" and by_path["genreId"].code == "IE0146"
    assert by_path["title"].field == "name" and "255" in by_path["title"].fix
    with pytest.raises(RmsNotFound):
        rms(sandbox).get_item(code.lower())
    with db.reader() as s:
        assert s.scalar(select(Binding.id).where(Binding.store_id == store_id)) is None
        logged = s.scalars(select(SyncLogEntry).where(SyncLogEntry.kind == "listing")).one()
    assert logged.level == "error" and "genre" in (logged.hint or "")


def test_codes_rakuten_cannot_take_are_refused_before_any_call(
    db: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("ＴＥＥ.1")  # full-width letters and a dot
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", 1000)).id
    writes_before = len(sandbox.admin.writes(sandbox.shop["shop_id"]))

    result = list_product(db, store_id, product_id)

    assert {p.field for p in result.problems} == {"code", "sku"}
    assert "a-z, 0-9" in result.problems[0].fix
    assert len(sandbox.admin.writes(sandbox.shop["shop_id"])) == writes_before


def test_a_retail_price_below_the_selling_price_is_refused(db: Database, store_id: int) -> None:
    code = unique("CHEAP")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", 2000, 1500)).id
    result = list_product(db, store_id, product_id)
    assert [p.field for p in result.problems] == ["retail_price"]


def test_a_listing_can_be_deactivated_activated_and_deleted(
    db: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("HIDE")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", 1000)).id
    list_product(db, store_id, product_id)
    client = rms(sandbox)

    set_hidden(db, store_id, product_id, True)
    assert client.get_item(code.lower())["hideItem"] is True
    set_hidden(db, store_id, product_id, False)
    assert client.get_item(code.lower())["hideItem"] is False

    delete_listing(db, store_id, product_id)
    with pytest.raises(RmsNotFound):
        client.get_item(code.lower())
    with db.reader() as s:
        assert s.scalar(select(Binding.id).where(Binding.store_id == store_id)) is None
    patches = [w for w in sandbox.admin.writes(sandbox.shop["shop_id"], "items.patch") if code.lower() in w["path"]]
    assert [w["body"] for w in patches] == [{"hideItem": True}, {"hideItem": False}]


def test_listing_again_updates_the_item_and_keeps_what_rms_holds(
    db: Database, sandbox: RunningSandbox, store_id: int
) -> None:
    code = unique("AGAIN")
    with db.transaction() as s:
        product_id = create_single(s, code, fields("T", 1000)).id
    list_product(db, store_id, product_id)
    client = rms(sandbox)
    client.patch_item(code.lower(), {"tagline": "RMSで設定したキャッチコピー"})

    again = list_product(db, store_id, product_id)

    assert again.listed and not again.created
    assert client.get_item(code.lower())["tagline"] == "RMSで設定したキャッチコピー"
