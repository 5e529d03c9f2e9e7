"""Pure translations between RMS JSON and plain Kura-side dataclasses (no I/O; RMS names stay here)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from kura.channels.rakuten.statuses import oms_status_for
from kura.errors import Invalid

JST = timezone(timedelta(hours=9), "JST")
NOT_FIXED = -9999
"""Order API sentinel for an amount Rakuten has not fixed yet (postage, COD fee, totals)."""

# --- datetimes ------------------------------------------------------------------------------------

_ORDER_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give a timezone (Kura stores UTC)")
    return value


def format_order_datetime(value: datetime) -> str:
    """Order API form: `2024-05-03T14:22:05+0900` (JST, no colon in the offset, whole seconds)."""
    return _require_aware(value).astimezone(JST).strftime(_ORDER_FORMAT)


def format_item_datetime(value: datetime) -> str:
    """Item/Inventory API form: `2024-05-01T10:15:30+09:00`."""
    return _require_aware(value).astimezone(JST).replace(microsecond=0).isoformat()


def parse_rakuten_datetime(value: str) -> datetime:
    """An aware datetime from either RMS form (`+0900` or `+09:00`); a bare date is midnight JST."""
    text = value.strip()
    try:  # both forms are ISO 8601, which fromisoformat reads (in C: strptime cost ~100 µs a value)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, _ORDER_FORMAT)  # %z accepts +0900 and +09:00
        except ValueError:
            raise ValueError(f"not an RMS datetime: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=JST)
    return parsed


def parse_optional_datetime(value: Any) -> datetime | None:
    return parse_rakuten_datetime(value) if isinstance(value, str) and value.strip() else None


def parse_optional_date(value: Any) -> date | None:
    """`YYYY-MM-DD` (deliveryDate, shippingDate, cancelDueDate) or None."""
    return date.fromisoformat(value.strip()[:10]) if isinstance(value, str) and value.strip() else None


# --- shop URL and images --------------------------------------------------------------------------

_SHOP_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SHOP_HOSTS = frozenset({"www.rakuten.co.jp", "rakuten.co.jp"})


def parse_shop_url(value: str) -> str:
    """The shop code from `https://www.rakuten.co.jp/<shop>/` or from a bare `<shop>`."""
    text = value.strip()
    candidate = text
    if "/" in text or "." in text:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        segments = [s for s in parts.path.split("/") if s]
        if parts.hostname not in _SHOP_HOSTS or len(segments) != 1:
            raise Invalid(
                "shop_url",
                f"{value!r} is not a Rakuten shop address; paste the shop's top page "
                "(https://www.rakuten.co.jp/<shop>/) or just the <shop> part.",
            )
        candidate = segments[0]
    code = candidate.lower()
    if not _SHOP_CODE.match(code):
        raise Invalid(
            "shop_url",
            f"{value!r} is not a shop code; it should be the <shop> part of "
            "https://www.rakuten.co.jp/<shop>/ (letters, digits, '-' and '_').",
        )
    return code


def image_url(shop_code: str, image_type: str, location: str) -> str:
    """The public URL of an item image (CABINET, GOLD, or an absolute URL)."""
    if location.startswith(("http://", "https://")):
        return location
    path = location if location.startswith("/") else f"/{location}"
    if image_type == "CABINET":
        return f"https://image.rakuten.co.jp/{shop_code}/cabinet{path}"
    if image_type == "GOLD":
        return f"https://www.rakuten.ne.jp/gold/{shop_code}{path}"
    raise ValueError(f"unknown image type {image_type!r} for {location!r}")


# --- amounts --------------------------------------------------------------------------------------


def _yen(value: Any) -> int | None:
    """An integer yen amount; None for missing values and for Rakuten's "not fixed" -9999."""
    if value is None or value == "":
        return None
    amount = int(value)
    return None if amount == NOT_FIXED else amount


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _flag(value: Any) -> bool:
    return bool(value) and value not in ("0", "false")


# --- items ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferencePrice:
    display_type: str
    kind: int | None
    amount: int | None


@dataclass(frozen=True)
class VariantSelector:
    key: str
    display_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListingVariant:
    variant_id: str
    sku: str | None  # merchantDefinedSkuId: the shop's system SKU code
    selector_values: dict[str, str]
    standard_price: int | None
    reference_price: ReferencePrice | None
    hidden: bool
    jan: str | None
    images: tuple[str, ...]


@dataclass(frozen=True)
class Listing:
    """One Rakuten item (manageNumber) with its SKUs."""

    manage_number: str
    item_number: str | None
    title: str | None
    tagline: str | None
    item_type: str | None
    genre_id: str | None
    hidden: bool  # hideItem: in the warehouse, not on sale
    tax_rate: str | None
    images: tuple[str, ...]
    selectors: tuple[VariantSelector, ...]
    variants: tuple[ListingVariant, ...]
    created_at: datetime | None
    updated_at: datetime | None
    deleted: bool = False  # items.search returns only manageNumber for deleted items

    @property
    def has_variations(self) -> bool:
        return bool(self.selectors)


def listing_from_rakuten(item: Mapping[str, Any], shop_code: str) -> Listing:
    """A Listing from an ItemAPI 2.0 item (items.get, items.bulk.get element, items.search `item`)."""
    manage_number = str(item["manageNumber"])
    if set(item) == {"manageNumber"}:
        return Listing(
            manage_number=manage_number,
            item_number=None,
            title=None,
            tagline=None,
            item_type=None,
            genre_id=None,
            hidden=True,
            tax_rate=None,
            images=(),
            selectors=(),
            variants=(),
            created_at=None,
            updated_at=None,
            deleted=True,
        )
    selectors = tuple(
        VariantSelector(
            key=str(s["key"]),
            display_name=str(s.get("displayName") or s["key"]),
            values=tuple(str(v["displayValue"]) for v in s.get("values") or []),
        )
        for s in item.get("variantSelectors") or []
    )
    variants = tuple(
        _variant_from_rakuten(variant_id, v, shop_code) for variant_id, v in (item.get("variants") or {}).items()
    )
    return Listing(
        manage_number=manage_number,
        item_number=_text(item.get("itemNumber")),
        title=_text(item.get("title")),
        tagline=_text(item.get("tagline")),
        item_type=_text(item.get("itemType")),
        genre_id=_text(item.get("genreId")),
        hidden=bool(item.get("hideItem", False)),
        tax_rate=_text((item.get("payment") or {}).get("taxRate")),
        images=_images(item.get("images"), shop_code),
        selectors=selectors,
        variants=variants,
        created_at=parse_optional_datetime(item.get("created")),
        updated_at=parse_optional_datetime(item.get("updated")),
    )


def _images(images: Any, shop_code: str) -> tuple[str, ...]:
    return tuple(image_url(shop_code, str(i.get("type")), str(i["location"])) for i in images or [])


def _variant_from_rakuten(variant_id: str, v: Mapping[str, Any], shop_code: str) -> ListingVariant:
    ref = v.get("referencePrice")
    return ListingVariant(
        variant_id=variant_id,
        sku=_text(v.get("merchantDefinedSkuId")),
        selector_values={str(k): str(val) for k, val in (v.get("selectorValues") or {}).items()},
        standard_price=_int(v.get("standardPrice")),
        reference_price=(
            ReferencePrice(str(ref.get("displayType")), _int(ref.get("type")), _int(ref.get("value"))) if ref else None
        ),
        hidden=bool(v.get("hidden", False)),
        jan=_text((v.get("articleNumber") or {}).get("value")),
        images=_images(v.get("images"), shop_code),
    )


# ItemAPI 2.0 has no brand field; shops put it in the product attributes (NavigationAPI names).
_BRAND_ATTRIBUTES = ("ブランド名", "ブランド", "brand", "Brand")


def item_brand(item: Mapping[str, Any]) -> str | None:
    """The brand of an ItemAPI 2.0 item, from its SKUs' `attributes` ({"name": "ブランド名", "values": [...]})."""
    variants = [v for v in (item.get("variants") or {}).values() if isinstance(v, Mapping)]
    attributes = [a for source in (item, *variants) for a in source.get("attributes") or []]
    for attribute in attributes:
        if isinstance(attribute, Mapping) and attribute.get("name") in _BRAND_ATTRIBUTES:
            values = [str(v).strip() for v in attribute.get("values") or [] if str(v).strip()]
            if values:
                return values[0][:100]
    return None


# --- orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A buyer (OrdererModel) or a recipient (SenderModel)."""

    family_name: str | None
    first_name: str | None
    family_name_kana: str | None
    first_name_kana: str | None
    zip_code: str | None  # "150-0001"
    prefecture: str | None
    city: str | None
    sub_address: str | None
    phone: str | None  # "03-1234-5678"
    email: str | None  # Rakuten's relay address, never the buyer's own

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.family_name, self.first_name) if p)


@dataclass(frozen=True)
class OrderLine:
    item_detail_id: int | None
    item_id: int | None
    manage_number: str | None
    item_number: str | None
    name: str | None
    variant_id: str | None
    sku: str | None  # merchantDefinedSkuId
    sku_info: str | None
    selected_choice: str | None
    quantity: int
    unit_price: int | None
    unit_price_tax_included: int | None
    tax_rate: float | None
    tax_included: bool
    postage_included: bool
    deleted: bool


@dataclass(frozen=True)
class Shipment:
    shipping_detail_id: int | None
    carrier_code: str | None
    carrier_name: str | None
    tracking_number: str | None
    shipped_on: date | None


@dataclass(frozen=True)
class Package:
    """One destination (basket) of an order."""

    basket_id: int
    recipient: Person | None
    goods_price: int | None
    postage_price: int | None
    cod_fee: int | None
    total_price: int | None
    default_carrier_code: str | None
    lines: tuple[OrderLine, ...]
    shipments: tuple[Shipment, ...]
    deleted: bool


@dataclass(frozen=True)
class Coupon:
    code: str | None
    name: str | None
    capital: int | None  # 1 shop, 2 maker, 3 service
    item_id: int | None  # 0 = the whole order
    amount: int | None  # couponTotalPrice


@dataclass(frozen=True)
class TaxLine:
    tax_rate: float | None
    billed: int | None
    billed_tax: int | None
    total: int | None


@dataclass(frozen=True)
class Order:
    """A getOrder OrderModel, flattened. Amounts are integer yen; None = not fixed yet (-9999)."""

    order_number: str
    progress: int
    oms_status: str | None
    sub_status_id: int | None
    sub_status_name: str | None
    ordered_at: datetime
    confirmed_at: datetime | None
    fixed_at: datetime | None
    shipping_reported_at: datetime | None
    delivery_date: date | None
    shipping_term: int | None
    order_type: int | None
    remarks: str | None
    orderer: Person | None
    settlement_code: int | None
    settlement_name: str | None
    delivery_name: str | None
    delivery_class: int | None
    goods_price: int | None
    goods_tax: int | None  # absent from getOrder version 8 on
    postage_price: int | None
    cod_fee: int | None  # deliveryPrice
    payment_charge: int | None
    total_price: int | None
    request_price: int | None
    coupon_total: int | None
    coupon_shop: int | None
    coupon_other: int | None
    used_points: int | None
    packages: tuple[Package, ...]
    coupons: tuple[Coupon, ...] = ()
    taxes: tuple[TaxLine, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _person(model: Mapping[str, Any] | None) -> Person | None:
    if not model:
        return None
    zips = [_text(model.get("zipCode1")), _text(model.get("zipCode2"))]
    phones = [_text(model.get(f"phoneNumber{i}")) for i in (1, 2, 3)]
    return Person(
        family_name=_text(model.get("familyName")),
        first_name=_text(model.get("firstName")),
        family_name_kana=_text(model.get("familyNameKana")),
        first_name_kana=_text(model.get("firstNameKana")),
        zip_code="-".join(z for z in zips if z) or None,
        prefecture=_text(model.get("prefecture")),
        city=_text(model.get("city")),
        sub_address=_text(model.get("subAddress")),
        phone="-".join(p for p in phones if p) or None,
        email=_text(model.get("emailAddress")),
    )


def _line(item: Mapping[str, Any]) -> OrderLine:
    skus = item.get("SkuModelList") or [{}]
    sku = skus[0]  # one SKU per ordered line in every sample; a second entry would be a set component
    return OrderLine(
        item_detail_id=_int(item.get("itemDetailId")),
        item_id=_int(item.get("itemId")),
        manage_number=_text(item.get("manageNumber")),
        item_number=_text(item.get("itemNumber")),
        name=_text(item.get("itemName")),
        variant_id=_text(sku.get("variantId")),
        sku=_text(sku.get("merchantDefinedSkuId")),
        sku_info=_text(sku.get("skuInfo")),
        selected_choice=_text(item.get("selectedChoice")),
        quantity=int(item.get("units") or 0),
        unit_price=_yen(item.get("price")),
        unit_price_tax_included=_yen(item.get("priceTaxIncl")),
        tax_rate=None if item.get("taxRate") is None else float(item["taxRate"]),
        tax_included=_flag(item.get("includeTaxFlag")),
        postage_included=_flag(item.get("includePostageFlag")),
        deleted=_flag(item.get("deleteItemFlag")),
    )


def _shipment(row: Mapping[str, Any]) -> Shipment:
    return Shipment(
        shipping_detail_id=_int(row.get("shippingDetailId")),
        carrier_code=_text(row.get("deliveryCompany")),
        carrier_name=_text(row.get("deliveryCompanyName")),
        tracking_number=_text(row.get("shippingNumber")),
        shipped_on=parse_optional_date(row.get("shippingDate")),
    )


def _package(p: Mapping[str, Any]) -> Package:
    return Package(
        basket_id=int(p["basketId"]),
        recipient=_person(p.get("SenderModel")),
        goods_price=_yen(p.get("goodsPrice")),
        postage_price=_yen(p.get("postagePrice")),
        cod_fee=_yen(p.get("deliveryPrice")),
        total_price=_yen(p.get("totalPrice")),
        default_carrier_code=_text(p.get("defaultDeliveryCompanyCode")),
        lines=tuple(_line(i) for i in p.get("ItemModelList") or []),
        shipments=tuple(_shipment(s) for s in p.get("ShippingModelList") or []),
        deleted=_flag(p.get("packageDeleteFlag")),
    )


def order_from_rakuten(model: Mapping[str, Any]) -> Order:
    """An Order from one getOrder OrderModel (version 7 or later for SKU data)."""
    progress = int(model["orderProgress"])
    settlement = model.get("SettlementModel") or {}
    delivery = model.get("DeliveryModel") or {}
    return Order(
        order_number=str(model["orderNumber"]),
        progress=progress,
        oms_status=oms_status_for(progress),
        sub_status_id=_int(model.get("subStatusId")),
        sub_status_name=_text(model.get("subStatusName")),
        ordered_at=parse_rakuten_datetime(str(model["orderDatetime"])),
        confirmed_at=parse_optional_datetime(model.get("shopOrderCfmDatetime")),
        fixed_at=parse_optional_datetime(model.get("orderFixDatetime")),
        shipping_reported_at=parse_optional_datetime(model.get("shippingCmplRptDatetime")),
        delivery_date=parse_optional_date(model.get("deliveryDate")),
        shipping_term=_int(model.get("shippingTerm")),
        order_type=_int(model.get("orderType")),
        remarks=_text(model.get("remarks")),
        orderer=_person(model.get("OrdererModel")),
        settlement_code=_int(settlement.get("settlementMethodCode")),
        settlement_name=_text(settlement.get("settlementMethod")),
        delivery_name=_text(delivery.get("deliveryName")),
        delivery_class=_int(delivery.get("deliveryClass")),
        goods_price=_yen(model.get("goodsPrice")),
        goods_tax=_yen(model.get("goodsTax")),
        postage_price=_yen(model.get("postagePrice")),
        cod_fee=_yen(model.get("deliveryPrice")),
        payment_charge=_yen(model.get("paymentCharge")),
        total_price=_yen(model.get("totalPrice")),
        request_price=_yen(model.get("requestPrice")),
        coupon_total=_yen(model.get("couponAllTotalPrice")),
        coupon_shop=_yen(model.get("couponShopPrice")),
        coupon_other=_yen(model.get("couponOtherPrice")),
        used_points=_int((model.get("PointModel") or {}).get("usedPoint")),
        packages=tuple(_package(p) for p in model.get("PackageModelList") or []),
        coupons=tuple(
            Coupon(
                code=_text(c.get("couponCode")),
                name=_text(c.get("couponName")),
                capital=_int(c.get("couponCapitalCode")),
                item_id=_int(c.get("itemId")),
                amount=_yen(c.get("couponTotalPrice")),
            )
            for c in model.get("CouponModelList") or []
        ),
        taxes=tuple(
            TaxLine(
                tax_rate=None if t.get("taxRate") is None else float(t["taxRate"]),
                billed=_yen(t.get("reqPrice")),
                billed_tax=_yen(t.get("reqPriceTax")),
                total=_yen(t.get("totalPrice")),
            )
            for t in model.get("TaxSummaryModelList") or []
        ),
        extra={k: model[k] for k in ("memo", "operator", "giftCheckFlag") if model.get(k) is not None},
    )
