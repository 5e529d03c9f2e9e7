"""How RMS replies and network failures map onto NotFound / Retryable / Permanent / Suspended."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from kura.channels.rakuten.errors import (
    NotFound,
    Permanent,
    Retryable,
    Suspended,
    error_from_response,
    parse_body,
    retry_after_seconds,
    translate_transport_errors,
)

REQ = httpx.Request("GET", "https://rms.test/es/2.0/items/manage-numbers/x")


def reply(status: int, json: object = None, headers: dict[str, str] | None = None, text: str | None = None):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=REQ)
    return httpx.Response(status, json=json, headers=headers, request=REQ)


def test_success_statuses_are_not_errors() -> None:
    for status in (200, 201, 204):
        assert error_from_response("items.get", reply(status, {})) is None


def test_item_api_validation_error_is_permanent_with_code_and_property_path() -> None:
    body = {
        "errors": [
            {
                "code": "IE0003",
                "message": "standardPrice must be between 0 and 999999999.",
                "metadata": {"propertyPath": "variants.sku-a.standardPrice"},
            }
        ]
    }
    error = error_from_response("items.upsert", reply(400, body))
    assert isinstance(error, Permanent)
    assert (error.function, error.status, error.codes, error.code) == ("items.upsert", 400, ("IE0003",), "IE0003")
    assert "variants.sku-a.standardPrice" in error.message
    assert "correct the data" in error.message
    assert error.response == body


def test_gateway_unauthorised_is_suspended_and_says_to_renew_the_licence_key() -> None:
    error = error_from_response(
        "rpay.order.searchOrder", reply(401, {"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}})
    )
    assert isinstance(error, Suspended)
    assert error.code == "ES01-01"
    assert "issue a new licence key" in error.message


def test_function_not_enabled_is_suspended_and_says_where_to_enable_it() -> None:
    error = error_from_response("license.expiryDate.get", reply(403, {"Results": {"errorCode": "ES04-01"}}))
    assert isinstance(error, Suspended)
    assert "利用機能編集" in error.message


def test_bare_401_without_body_is_suspended() -> None:
    assert isinstance(error_from_response("items.get", reply(401, text="")), Suspended)


def test_item_not_found_is_not_found() -> None:
    body = {"errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=nope"}]}
    error = error_from_response("items.get", reply(404, body))
    assert isinstance(error, NotFound)
    assert "manageNumber=nope" in str(error)


def test_429_is_retryable_with_retry_after_and_certainly_not_applied() -> None:
    error = error_from_response("items.search", reply(429, {"errors": []}, {"Retry-After": "3"}))
    assert isinstance(error, Retryable)
    assert error.retry_after == 3.0
    assert error.maybe_applied is False
    assert "throttling" in error.message


def test_maintenance_503_is_retryable_and_not_applied() -> None:
    error = error_from_response("rpay.order.getOrder", reply(503, text="<html>maintenance</html>"))
    assert isinstance(error, Retryable)
    assert error.maybe_applied is False
    assert "maintenance" in error.message
    assert error.response == "<html>maintenance</html>"


def test_500_is_retryable_but_may_have_been_applied() -> None:
    error = error_from_response("inventories.bulk.upsert", reply(500, {"errors": [{"code": "X0000"}]}))
    assert isinstance(error, Retryable)
    assert error.maybe_applied is True


def test_concurrent_process_conflict_ce0001_is_retryable() -> None:
    error = error_from_response("items.patch", reply(409, {"errors": [{"code": "CE0001", "message": "retry"}]}))
    assert isinstance(error, Retryable)
    assert error.maybe_applied is False


def test_other_409_is_permanent() -> None:
    assert isinstance(error_from_response("items.upsert", reply(409, {"errors": [{"code": "ZZ"}]})), Permanent)


def test_order_api_message_model_list_error_is_permanent_with_message_code() -> None:
    body = {
        "MessageModelList": [
            {
                "messageType": "ERROR",
                "messageCode": "ORDER_EXT_API_SEARCH_ORDER_ERROR_011",
                "message": "startDatetimeの書式が不正です。",
            }
        ],
        "orderNumberList": None,
        "PaginationResponseModel": None,
    }
    error = error_from_response("rpay.order.searchOrder", reply(400, body))
    assert isinstance(error, Permanent)
    assert error.code == "ORDER_EXT_API_SEARCH_ORDER_ERROR_011"
    assert "startDatetime" in error.message


def test_error_keeps_response_with_personal_data_masked() -> None:
    body = {
        "MessageModelList": [{"messageType": "ERROR", "messageCode": "X", "message": "bad"}],
        "OrderModelList": [{"OrdererModel": {"familyName": "山田", "prefecture": "東京都"}}],
    }
    error = error_from_response("rpay.order.getOrder", reply(400, body))
    assert error is not None
    assert error.response["OrderModelList"][0]["OrdererModel"] == {"familyName": "***", "prefecture": "東京都"}


def test_retry_after_accepts_an_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    response = reply(503, text="", headers={"Retry-After": "Wed, 01 May 2024 12:00:30 GMT"})
    assert retry_after_seconds(response, now=now) == 30.0
    assert retry_after_seconds(reply(503, text="", headers={"Retry-After": "soon"})) is None


def test_connection_failure_is_retryable_and_not_applied() -> None:
    with pytest.raises(Retryable) as caught, translate_transport_errors("items.get"):
        raise httpx.ConnectError("refused", request=REQ)
    assert caught.value.maybe_applied is False
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_read_timeout_is_retryable_but_may_have_been_applied() -> None:
    with pytest.raises(Retryable) as caught, translate_transport_errors("inventories.bulk.upsert"):
        raise httpx.ReadTimeout("slow", request=REQ)
    assert caught.value.maybe_applied is True
    assert "check RMS before repeating a write" in caught.value.message


def test_parse_body_reads_json_and_falls_back_to_text() -> None:
    assert parse_body(reply(200, {"results": [{"manageNumber": "tee-01", "title": "Tシャツ"}]})) == {
        "results": [{"manageNumber": "tee-01", "title": "Tシャツ"}]}
    big = httpx.Response(200, content=b'{"n": 123456789012345678901234567890}', request=REQ)
    assert parse_body(big) == {"n": 123456789012345678901234567890}  # beyond what orjson reads
    assert parse_body(reply(502, text="<html>Bad gateway</html>")) == "<html>Bad gateway</html>"
    assert parse_body(httpx.Response(200, content=b"", request=REQ)) == ""
