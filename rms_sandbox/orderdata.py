"""getOrder's OrderModel: building a new order (version-10 shape) and cutting it down to older versions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from rms_sandbox.names import ADDRESSES, COUPON_NAMES, FAMILY_NAMES, GIVEN_NAMES
from rms_sandbox.timefmt import jst_date, order_dt

UNKNOWN = -9999  # [C] amount not yet fixed

SETTLEMENT_NAMES = {
    1: "クレジットカード", 2: "代金引換", 9: "銀行振込", 12: "Apple Pay", 17: "PayPal", 21: "後払い決済",
}
CARRIERS = {
    "1000": "その他", "1001": "ヤマト運輸", "1002": "佐川急便", "1003": "日本郵便", "1004": "西濃運輸",
    "1005": "セイノースーパーエクスプレス", "1006": "福山通運", "1007": "名鉄運輸", "1008": "トナミ運輸",
    "1009": "第一貨物", "1010": "新潟運輸", "1011": "中越運送", "1012": "岡山県貨物運送", "1013": "久留米運送",
    "1014": "山陽自動車運送", "1015": "NXトランスポート", "1016": "エコ配", "1017": "EMS", "1018": "DHL",
    "1019": "FedEx", "1020": "UPS", "1021": "日本通運", "1022": "TNT", "1023": "OCS", "1024": "USPS",
    "1025": "SFエクスプレス", "1026": "Aramex", "1027": "SGHグローバル・ジャパン", "1028": "Rakuten EXPRESS",
    "1029": "日本郵便 楽天倉庫出荷", "1030": "ヤマト運輸 クロネコゆうパケット", "1031": "名鉄NX運輸",
}


@dataclass
class Line:
    """One bought SKU."""

    manage_number: str
    variant_id: str
    item_id: int
    item_name: str
    item_number: str
    price: int
    units: int
    merchant_sku: str | None
    sku_info: str
    tax_rate: float = 0.1
    postage_included: bool = False


def _person(rng: random.Random) -> dict[str, Any]:
    family, family_kana = rng.choice(FAMILY_NAMES)
    given, given_kana = rng.choice(GIVEN_NAMES)
    prefecture, city, sub, zip1, zip2 = rng.choice(ADDRESSES)
    return {
        "zipCode1": zip1, "zipCode2": zip2, "prefecture": prefecture, "city": city, "subAddress": sub,
        "familyName": family, "firstName": given, "familyNameKana": family_kana, "firstNameKana": given_kana,
        "phoneNumber1": "0" + str(rng.randint(3, 99)), "phoneNumber2": str(rng.randint(1000, 9999)),
        "phoneNumber3": str(rng.randint(1000, 9999)),
    }


def build_order(
    rng: random.Random,
    order_number: str,
    ts: float,
    packages: list[list[Line]],
    basket_ids: list[int],
    first_detail_id: int,
    *,
    amounts_fixed: bool = True,
) -> dict[str, Any]:
    """A new order at 100 in the getOrder version-10 shape (older versions are cut from it)."""
    settlement = rng.choices([1, 2, 9, 12, 17, 21], weights=[60, 10, 5, 10, 5, 10])[0]
    orderer = _person(rng)
    orderer.update({
        "emailAddress": f"{rng.getrandbits(40):010x}s1@pc.fw.rakuten.ne.jp",
        "sex": rng.choice(["男", "女"]), "birthYear": rng.randint(1950, 2005),
        "birthMonth": rng.randint(1, 12), "birthDay": rng.randint(1, 28),
    })
    detail_id = first_detail_id
    package_models = []
    goods_total = postage_total = delivery_total = 0
    for basket_id, lines in zip(basket_ids, packages, strict=True):
        items = []
        goods = 0
        for line in lines:
            items.append(_item_model(line, detail_id))
            detail_id += 1
            goods += line.price * line.units
        postage = 0 if goods >= 3980 or all(x.postage_included for x in lines) else 550
        delivery = 330 if settlement == 2 else 0
        sender = orderer if (len(packages) == 1 and rng.random() < 0.7) else _person(rng)
        package_models.append({
            "basketId": basket_id, "postagePrice": postage, "postageTaxRate": 0.1, "deliveryPrice": delivery,
            "deliveryTaxRate": 0.1, "goodsPrice": goods, "totalPrice": goods + postage,
            "noshi": None, "packageDeleteFlag": 0,
            "SenderModel": {k: sender[k] for k in (
                "zipCode1", "zipCode2", "prefecture", "city", "subAddress", "familyName", "firstName",
                "familyNameKana", "firstNameKana", "phoneNumber1", "phoneNumber2", "phoneNumber3")}
            | {"isolatedIslandFlag": 0},
            "ItemModelList": items, "ShippingModelList": [], "DeliveryCvsModel": None,
            "defaultDeliveryCompanyCode": rng.choice(["1001", "1002", "1003"]),
            "dropOffFlag": rng.choice([0, 1]), "dropOffLocation": None, "SocialGiftModel": None,
        })
        goods_total += goods
        postage_total += postage
        delivery_total += delivery
    coupons = []
    coupon_total = 0
    if rng.random() < 0.2:
        coupon_price = rng.choice([100, 300, 500])
        coupon_total = min(coupon_price, goods_total)
        capital = rng.choice([1, 3])
        coupons.append({
            "couponCode": f"CP{rng.getrandbits(32):08X}", "itemId": 0, "couponName": rng.choice(COUPON_NAMES),
            "couponSummary": f"{coupon_price}円OFF", "couponCapital": "ショップ" if capital == 1 else "サービス",
            "couponCapitalCode": capital, "expiryDate": jst_date(ts + 30 * 86400), "couponPrice": coupon_price,
            "couponUnit": 1, "couponTotalPrice": coupon_total, "itemDetailId": 0,
        })
    used_point = rng.choice([0, 0, 0, 50, 100, 500]) if goods_total > 1000 else 0
    total = goods_total + postage_total
    order: dict[str, Any] = {
        "orderNumber": order_number, "orderProgress": 100, "subStatusId": None, "subStatusName": None,
        "orderDatetime": order_dt(ts), "shopOrderCfmDatetime": None, "orderFixDatetime": None,
        "shippingInstDatetime": None, "shippingCmplRptDatetime": None,
        "cancelDueDate": jst_date(ts + 14 * 86400), "deliveryDate": None,
        "shippingTerm": rng.choice([0, 0, 0, 1, 1416, 1820]), "remarks": "[配送日時指定:]\n指定なし",
        "giftCheckFlag": 0, "severalSenderFlag": int(len(packages) > 1), "equalSenderFlag": 0,
        "isolatedIslandFlag": 0, "rakutenMemberFlag": 1, "carrierCode": rng.choice([0, 11, 12]),
        "emailCarrierCode": 0, "orderType": 1, "reserveNumber": None, "reserveDeliveryCount": None,
        "cautionDisplayType": 0, "cautionDisplayDetailType": None, "rakutenConfirmFlag": 0,
        "goodsPrice": goods_total, "postagePrice": postage_total, "deliveryPrice": delivery_total,
        "paymentCharge": 0, "paymentChargeTaxRate": 0.1, "totalPrice": total,
        "requestPrice": total + delivery_total - coupon_total - used_point,
        "couponAllTotalPrice": coupon_total,
        "couponShopPrice": coupon_total if coupons and coupons[0]["couponCapitalCode"] == 1 else 0,
        "couponOtherPrice": coupon_total if coupons and coupons[0]["couponCapitalCode"] != 1 else 0,
        "additionalFeeOccurAmountToUser": 0, "additionalFeeOccurAmountToShop": 0,
        "asurakuFlag": 0, "drugFlag": 0, "dealFlag": 0, "membershipType": 0, "memo": None, "operator": None,
        "mailPlugSentence": None, "modifyFlag": 0, "receiptIssueCount": 0, "receiptIssueHistoryList": [],
        "deliveryCertPrgFlag": 0, "oneDayOperationFlag": 0, "socialGiftFlag": 0,
        "OrdererModel": orderer,
        "SettlementModel": {
            "settlementMethodCode": settlement, "settlementMethod": SETTLEMENT_NAMES[settlement],
            "rpaySettlementFlag": 1,
            **({"cardName": "VISA", "cardNumber": f"XXXX-XXXX-XXXX-{rng.randint(1000, 9999)}",
                "cardOwner": "HIDDEN", "cardYm": "2030-12", "cardPayType": 0, "cardInstallmentDesc": None}
               if settlement == 1 else {}),
        },
        "DeliveryModel": {"deliveryName": "宅配便", "deliveryClass": 0},
        "PointModel": {"usedPoint": used_point},
        "WrappingModel1": None, "WrappingModel2": None,
        "PackageModelList": package_models,
        "CouponModelList": coupons,
        "ChangeReasonModelList": [],
        "TaxSummaryModelList": [{
            "taxRate": 0.1, "reqPrice": total + delivery_total - coupon_total - used_point,
            "reqPriceTax": (total + delivery_total - coupon_total - used_point) * 10 // 110,
            "totalPrice": total, "paymentCharge": 0, "couponPrice": coupon_total, "point": used_point,
        }],
        "DueDateModelList": [],
    }
    if not amounts_fixed:
        mark_amounts_unknown(order)
    return order


def _item_model(line: Line, detail_id: int) -> dict[str, Any]:
    return {
        "itemDetailId": detail_id, "itemName": line.item_name, "itemId": line.item_id,
        "itemNumber": line.item_number, "manageNumber": line.manage_number, "price": line.price,
        "units": line.units, "includePostageFlag": int(line.postage_included), "includeTaxFlag": 1,
        "includeCashOnDeliveryPostageFlag": 0, "selectedChoice": None, "pointRate": 1, "pointType": 0,
        "inventoryType": 1, "delvdateInfo": "1～3日以内に発送予定（店舗休業日を除く）", "restoreInventoryFlag": 0,
        "dealFlag": 0, "drugFlag": 0, "deleteItemFlag": 0, "taxRate": line.tax_rate, "priceTaxIncl": line.price,
        "isSingleItemShipping": 0,
        "SkuModelList": [{"variantId": line.variant_id, "merchantDefinedSkuId": line.merchant_sku,
                          "skuInfo": line.sku_info}],
    }


def mark_amounts_unknown(order: dict[str, Any]) -> None:
    """Postage not yet set by the shop: the postage-dependent totals read -9999."""
    order["postagePrice"] = order["totalPrice"] = order["requestPrice"] = UNKNOWN
    for package in order["PackageModelList"]:
        package["postagePrice"] = package["totalPrice"] = UNKNOWN
    for summary in order["TaxSummaryModelList"]:
        summary["reqPrice"] = summary["reqPriceTax"] = summary["totalPrice"] = UNKNOWN


def fix_amounts(order: dict[str, Any]) -> None:
    """The shop has set postage: totals become real numbers again."""
    postage_total = 0
    for package in order["PackageModelList"]:
        postage = 0 if package["goodsPrice"] >= 3980 else 550
        package["postagePrice"] = postage
        package["totalPrice"] = package["goodsPrice"] + postage
        postage_total += postage
    order["postagePrice"] = postage_total
    order["totalPrice"] = order["goodsPrice"] + postage_total
    order["requestPrice"] = (order["totalPrice"] + order["deliveryPrice"] + order["paymentCharge"]
                             - order["couponAllTotalPrice"] - order["PointModel"]["usedPoint"])
    for summary in order["TaxSummaryModelList"]:
        summary["reqPrice"] = order["requestPrice"]
        summary["reqPriceTax"] = order["requestPrice"] * 10 // 110
        summary["totalPrice"] = order["totalPrice"]


def amounts_fixed(order: dict[str, Any]) -> bool:
    return order["postagePrice"] != UNKNOWN


# --------------------------------------------------------------------------- version gating [C] OFF:getOrder

_ORDER_MIN_VERSION = {
    "receiptIssueCount": 5, "receiptIssueHistoryList": 5, "DueDateModelList": 5,
    "cautionDisplayDetailType": 6,
    "deliveryCertPrgFlag": 8,  # [U] assumed to come with the delivery-quality version
    "socialGiftFlag": 10,  # [U] assumed to come with the social-gift version
}
_PACKAGE_MIN_VERSION = {"defaultDeliveryCompanyCode": 4, "dropOffFlag": 9, "dropOffLocation": 9,
                        "SocialGiftModel": 10}


def for_version(order: dict[str, Any], version: int) -> dict[str, Any]:
    """Cuts a stored (version-10) OrderModel down to what getOrder returns for `version` (3–10).

    `goodsTax` (external tax; prices here are tax-inclusive, so 0) exists only before version 8."""
    if version >= 10:
        return order
    out = {k: v for k, v in order.items() if _ORDER_MIN_VERSION.get(k, 0) <= version}
    if version < 8:
        out["goodsTax"] = 0
    packages = []
    for package in order["PackageModelList"]:
        p = {k: v for k, v in package.items() if _PACKAGE_MIN_VERSION.get(k, 0) <= version}
        if version < 8:
            p["goodsTax"] = 0
        items = []
        for item in package["ItemModelList"]:
            i = dict(item)
            if version < 4:
                i.pop("isSingleItemShipping", None)
            if version < 7:
                i["SkuModelList"] = []
            items.append(i)
        p["ItemModelList"] = items
        packages.append(p)
    out["PackageModelList"] = packages
    return out
