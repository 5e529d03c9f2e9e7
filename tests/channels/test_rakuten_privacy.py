"""Personal data in Order API payloads is masked before it reaches a record, a log or an error."""

from __future__ import annotations

from rakuten_fakes import payload

from kura.channels.rakuten.privacy import MASK, mask_personal


def test_orderer_and_recipient_names_kana_addresses_phones_and_email_are_masked() -> None:
    order = mask_personal(payload("get_order.json"))["OrderModelList"][0]
    orderer = order["OrdererModel"]
    for key in (
        "familyName",
        "firstName",
        "familyNameKana",
        "firstNameKana",
        "zipCode1",
        "zipCode2",
        "city",
        "subAddress",
        "phoneNumber1",
        "phoneNumber2",
        "phoneNumber3",
        "emailAddress",
    ):
        assert orderer[key] == MASK, key
    recipient = order["PackageModelList"][0]["SenderModel"]
    assert recipient["familyName"] == MASK and recipient["phoneNumber1"] == MASK
    assert order["remarks"] == MASK
    assert order["SettlementModel"]["cardOwner"] == MASK


def test_masking_keeps_what_helps_debugging_and_does_not_touch_the_original() -> None:
    original = payload("get_order.json")
    masked = mask_personal(original)
    order = masked["OrderModelList"][0]
    assert order["OrdererModel"]["prefecture"] == "東京都"
    assert order["orderNumber"] == "987654-20240503-0000123401"
    assert order["PackageModelList"][0]["ItemModelList"][0]["itemName"] == "Organic cotton T-shirt"
    assert original["OrderModelList"][0]["OrdererModel"]["familyName"] == "山田"


def test_null_and_empty_personal_fields_stay_visible_as_unset() -> None:
    assert mask_personal({"firstName": None, "familyName": ""}) == {"firstName": None, "familyName": ""}


def test_search_keyword_is_masked_only_when_it_searches_people() -> None:
    assert mask_personal({"searchKeywordType": 4, "searchKeyword": "山田"})["searchKeyword"] == MASK
    assert mask_personal({"searchKeywordType": 7, "searchKeyword": "tee01-m"})["searchKeyword"] == "tee01-m"
    assert mask_personal({"phoneNumberType": 1, "phoneNumber": "0312345678"})["phoneNumber"] == MASK
