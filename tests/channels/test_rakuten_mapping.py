"""Pure RMS ↔ Kura translations: datetimes, shop URLs, images, items and orders."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from rakuten_fakes import payload

from kura.channels.rakuten.mapping import (
    JST,
    format_item_datetime,
    format_order_datetime,
    image_url,
    listing_from_rakuten,
    order_from_rakuten,
    parse_rakuten_datetime,
    parse_shop_url,
)
from kura.errors import Invalid

# --- datetimes


def test_order_api_datetime_has_no_colon_in_the_offset_and_is_in_jst() -> None:
    assert format_order_datetime(datetime(2024, 5, 3, 5, 22, 5, 123, tzinfo=UTC)) == "2024-05-03T14:22:05+0900"


def test_item_api_datetime_has_a_colon_in_the_offset() -> None:
    assert format_item_datetime(datetime(2024, 5, 1, 1, 15, 30, tzinfo=UTC)) == "2024-05-01T10:15:30+09:00"


@pytest.mark.parametrize("text", ["2024-05-03T14:22:05+0900", "2024-05-03T14:22:05+09:00"])
def test_both_rms_datetime_forms_parse_to_the_same_aware_instant(text: str) -> None:
    parsed = parse_rakuten_datetime(text)
    assert parsed == datetime(2024, 5, 3, 5, 22, 5, tzinfo=UTC)
    assert parsed.utcoffset() == JST.utcoffset(None)


def test_naive_datetimes_are_refused_because_their_zone_is_a_guess() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_order_datetime(datetime(2024, 5, 3, 14, 0))


def test_garbage_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="not an RMS datetime"):
        parse_rakuten_datetime("2024/05/03 14:22")


# --- shop URL and images


@pytest.mark.parametrize(
    "value",
    [
        "https://www.rakuten.co.jp/kura-demo/",
        "https://www.rakuten.co.jp/kura-demo",
        "http://www.rakuten.co.jp/kura-demo/",
        "www.rakuten.co.jp/kura-demo/",
        "kura-demo",
        "  Kura-Demo  ",
    ],
)
def test_shop_url_or_bare_shop_code_gives_the_shop_code(value: str) -> None:
    assert parse_shop_url(value) == "kura-demo"


@pytest.mark.parametrize(
    "value",
    [
        "https://item.rakuten.co.jp/kura-demo/tee/",
        "https://www.rakuten.co.jp/",
        "https://example.com/kura-demo/",
        "https://www.rakuten.co.jp/kura-demo/info.html",
        "kura demo",
        "",
    ],
)
def test_anything_else_is_refused_with_a_hint_naming_the_field(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_shop_url(value)
    assert caught.value.field == "shop_url"
    assert "https://www.rakuten.co.jp/<shop>/" in caught.value.message


def test_cabinet_and_gold_images_become_absolute_urls() -> None:
    assert (
        image_url("kura-demo", "CABINET", "/tees/a.jpg") == "https://image.rakuten.co.jp/kura-demo/cabinet/tees/a.jpg"
    )
    assert image_url("kura-demo", "GOLD", "img/b.png") == "https://www.rakuten.ne.jp/gold/kura-demo/img/b.png"
    assert image_url("kura-demo", "ABSOLUTE", "https://x.test/c.jpg") == "https://x.test/c.jpg"


# --- items


def test_multi_variant_item_maps_selectors_variants_skus_and_prices() -> None:
    listing = listing_from_rakuten(payload("item_multi_variant.json"), "kura-demo")
    assert listing.manage_number == "demo-tee-01" and listing.item_number == "TEE-01"
    assert listing.has_variations and listing.selectors[0].values == ("M", "L")
    assert listing.hidden is False and listing.tax_rate == "0.1"
    assert listing.images == (
        "https://image.rakuten.co.jp/kura-demo/cabinet/tees/tee01_main.jpg",
        "https://www.rakuten.ne.jp/gold/kura-demo/img/tee01_back.png",
    )
    medium, large = listing.variants
    assert (medium.variant_id, medium.sku, medium.selector_values) == ("tee01-m", "TEE01-M", {"size": "M"})
    assert medium.standard_price == 2980
    assert medium.reference_price is not None and medium.reference_price.amount == 3480
    assert medium.reference_price.kind == 1
    assert large.standard_price == 2980  # numbers and numeric strings both accepted
    assert large.hidden is True and large.jan == "4901234567894" and large.reference_price is None
    assert listing.updated_at == datetime(2024, 4, 2, 3, 30, tzinfo=UTC)


def test_single_variant_item_has_no_selectors_and_keeps_the_warehouse_flag() -> None:
    listing = listing_from_rakuten(payload("item_single.json"), "kura-demo")
    assert not listing.has_variations
    assert listing.hidden is True  # hideItem: in the warehouse, not on sale
    (variant,) = listing.variants
    assert (variant.variant_id, variant.sku, variant.standard_price) == ("mug02", "MUG-02", 1500)
    assert variant.reference_price is not None and variant.reference_price.display_type == "OPEN_PRICE"
    assert listing.images == ("https://image.rakuten.co.jp/kura-demo/cabinet/mugs/mug02.jpg",)


def test_deleted_item_in_search_results_is_marked_deleted() -> None:
    deleted = payload("items_search.json")["results"][1]["item"]
    listing = listing_from_rakuten(deleted, "kura-demo")
    assert listing.deleted and listing.manage_number == "old-mug-02" and listing.variants == ()


# --- orders


def test_get_order_model_maps_buyer_recipient_lines_and_amounts() -> None:
    order = order_from_rakuten(payload("get_order.json")["OrderModelList"][0])
    assert order.order_number == "987654-20240503-0000123401"
    assert (order.progress, order.oms_status) == (300, "New")
    assert order.ordered_at == datetime(2024, 5, 3, 5, 22, 5, tzinfo=UTC)
    assert order.delivery_date == date(2024, 5, 8) and order.shipping_term == 1416
    assert order.orderer is not None
    assert order.orderer.name == "山田 花子" and order.orderer.family_name_kana == "ヤマダ"
    assert order.orderer.zip_code == "150-0001" and order.orderer.phone == "03-1234-5678"
    assert (order.settlement_code, order.settlement_name, order.delivery_name) == (1, "クレジットカード", "宅配便")
    assert (order.goods_price, order.total_price, order.request_price, order.used_points) == (5960, 5960, 5860, 100)
    assert order.goods_tax is None  # not returned from version 8 on
    assert order.taxes[0].billed_tax == 533


def test_not_fixed_amounts_of_minus_9999_become_none() -> None:
    order = order_from_rakuten(payload("get_order.json")["OrderModelList"][0])
    assert order.cod_fee is None
    assert order.packages[0].cod_fee is None
    assert order.postage_price == 0  # zero is an amount, not "unknown"


def test_package_lines_carry_variant_and_system_sku_and_shipments() -> None:
    order = order_from_rakuten(payload("get_order.json")["OrderModelList"][0])
    (package,) = order.packages
    assert package.basket_id == 55001234 and package.default_carrier_code == "1001"
    assert package.recipient is not None and package.recipient.phone == "090-1111-2222"
    (line,) = package.lines
    assert (line.manage_number, line.variant_id, line.sku, line.sku_info) == (
        "demo-tee-01",
        "tee01-m",
        "TEE01-M",
        "Size:M",
    )
    assert (line.quantity, line.unit_price, line.tax_rate, line.tax_included) == (2, 2980, 0.1, True)
    (shipment,) = package.shipments
    assert (shipment.shipping_detail_id, shipment.carrier_code, shipment.tracking_number, shipment.shipped_on) == (
        700001,
        "1001",
        "4912-3456-7890",
        date(2024, 5, 6),
    )


def test_order_with_coupons_and_a_pre_sku_line() -> None:
    model = payload("get_order.json")["OrderModelList"][0]
    model["CouponModelList"] = [
        {"couponCode": "SHOP10", "couponName": "10% off", "couponCapitalCode": 1, "itemId": 0, "couponTotalPrice": 596}
    ]
    model["PackageModelList"][0]["ItemModelList"][0]["SkuModelList"] = [
        {"variantId": "", "merchantDefinedSkuId": None, "skuInfo": ""}
    ]
    order = order_from_rakuten(model)
    assert order.coupons[0].code == "SHOP10" and order.coupons[0].amount == 596 and order.coupons[0].capital == 1
    line = order.packages[0].lines[0]
    assert line.variant_id is None and line.sku is None
