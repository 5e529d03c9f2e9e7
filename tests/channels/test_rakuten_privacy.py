"""Personal data in Order API payloads is masked before it reaches a record, a log or an error."""

from __future__ import annotations

from rakuten_fakes import payload

from kura.channels.rakuten.privacy import MASK, mask_personal, masked_for_log


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


def test_a_logged_body_is_masked_whole_when_small_and_a_masked_preview_when_large() -> None:
    order = payload("get_order.json")
    small = masked_for_log(order, limit=100_000)
    assert small == mask_personal(order)

    many = {"OrderModelList": order["OrderModelList"] * 200}  # ~200 orders: far over the limit
    logged = masked_for_log(many, limit=4000)
    assert set(logged) == {"truncated", "preview"} and logged["truncated"] is True
    preview = logged["preview"]
    assert len(preview) == 2000
    assert preview.startswith('{"OrderModelList": [{') and "987654-20240503-0000123401" in preview
    assert '"familyName": "***"' in preview  # masked where the preview reaches them
    for personal in ("山田", "花子", "ヤマダ", "神宮前", "HANAKO", "a1b2c3d4e5s1", "1111"):
        assert personal not in preview, personal
    assert many["OrderModelList"][0]["OrdererModel"]["familyName"] == "山田"  # the original is untouched


def test_a_logged_preview_reads_only_what_it_shows() -> None:
    class Endless(list):  # a list that fails if read past its first items
        def __iter__(self):  # type: ignore[no-untyped-def]
            for i in range(10**9):
                if i > 1000:
                    raise AssertionError("read past the preview")
                yield {"n": i, "firstName": "山田"}

    logged = masked_for_log({"items": Endless()}, limit=4000)
    assert logged["truncated"] and "山田" not in logged["preview"] and '"firstName": "***"' in logged["preview"]


def test_a_logged_body_of_scalars_or_none() -> None:
    assert masked_for_log(None, limit=10) is None
    assert masked_for_log("short", limit=10) == "short"
    assert masked_for_log("x" * 50, limit=10) == {"truncated": True, "preview": '"xxxx'}
