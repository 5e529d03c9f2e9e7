"""Error envelopes of the RMS API families, raised by handlers as exceptions and turned into responses."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Literal

import orjson
from starlette.responses import Response

Family = Literal["item", "order", "license"]

ITEM_MEDIA = "application/json"
ORDER_MEDIA = "application/json;charset=utf-8"  # [C] what the Order API answers with


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; orjson where it can (an items.search page: several times faster), else json."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, family: Family = "item") -> Response:
    media = ORDER_MEDIA if family == "order" else ITEM_MEDIA
    return Response(dumps(obj), status_code=status, media_type=media)


def raw_json_response(body: bytes, status: int = 200, family: Family = "item") -> Response:
    media = ORDER_MEDIA if family == "order" else ITEM_MEDIA
    return Response(body, status_code=status, media_type=media)


def empty_response(status: int = 204) -> Response:
    return Response(b"", status_code=status)


class ApiError(Exception, ABC):
    """An error answer in some family's envelope; each family's subclass renders its own."""

    status: int

    @abstractmethod
    def response(self) -> Response: ...


def item_error_entry(code: str, message: str, path: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": code, "message": message}
    if path is not None:
        entry["metadata"] = {"propertyPath": path}
    return entry


class ItemApiError(ApiError):
    """ItemAPI 2.0 / InventoryAPI 2.x: `{"errors": [{"code", "message", "metadata": {"propertyPath"}}]}`."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "error")
        self.status = status
        self.errors = errors

    @classmethod
    def one(cls, status: int, code: str, message: str, path: str | None = None) -> ItemApiError:
        return cls(status, [item_error_entry(code, message, path)])

    def response(self) -> Response:
        return json_response({"errors": self.errors}, self.status, "item")


def order_message(
    message_type: str, code: str, message: str, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"messageType": message_type, "messageCode": code, "message": message}
    entry.update(extra)
    return entry


class OrderApiError(ApiError):
    """RakutenPay Order API: `MessageModelList` of ERROR messages plus the function's null result fields."""

    def __init__(self, status: int, messages: list[dict[str, Any]], extra: dict[str, Any] | None = None):
        super().__init__(messages[0]["message"] if messages else "error")
        self.status = status
        self.messages = messages
        self.extra = extra or {}

    def response(self) -> Response:
        body = dict(self.extra)
        body["MessageModelList"] = self.messages
        return json_response(body, self.status, "order")


# Order API message-code stems; the irregular ones (UPDATE_ORDERSHIPPING, UPDATE_ORDERSUBSTATUS) are
# [C]/[T] in the reference, the stems marked [U] follow the same pattern but were not seen.
ORDER_CODE_STEMS: dict[str, str] = {
    "searchOrder": "SEARCH_ORDER",
    "getOrder": "GET_ORDER",
    "confirmOrder": "CONFIRM_ORDER",
    "updateOrderShipping": "UPDATE_ORDERSHIPPING",
    "updateOrderShippingAsync": "UPDATE_ORDERSHIPPING_ASYNC",
    "getResultUpdateOrderShippingAsync": "GET_RESULT_UPDATE_ORDERSHIPPING_ASYNC",  # [U]
    "cancelOrder": "CANCEL_ORDER",
    "cancelOrderAfterShipping": "CANCEL_ORDER_AFTER_SHIPPING",  # [U]
    "getSubStatusList": "GET_SUB_STATUS_LIST",  # [U]
    "updateOrderSubStatus": "UPDATE_ORDERSUBSTATUS",
}


def order_code(function: str, kind: str, number: str) -> str:
    """`ORDER_EXT_API_<FUNCTION>_<INFO|ERROR|WARNING>_<nnn>`."""
    stem = ORDER_CODE_STEMS.get(function, function.upper())
    return f"ORDER_EXT_API_{stem}_{kind}_{number}"


def auth_error_response() -> Response:
    """Gateway 401 for missing, wrong or expired credentials ([T] rms_mcp fixture; the reference leaves
    open whether every family answers with this envelope [U])."""
    return json_response({"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}, 401, "item")


# Over-limit, server-error and maintenance answers. Rakuten documents no JSON body for these [U]; the
# sandbox answers in each family's envelope with the codes below (X0000 is the documented system error).
ITEM_STATUS_CODES: dict[int, tuple[str, str]] = {
    429: ("GE0429", "Too Many Requests. Please retry after a while."),  # [U] code invented
    500: ("X0000", "System Error."),
    503: ("X0000", "Service Unavailable. The system is under maintenance."),  # [U] code for 503
    504: ("X0000", "Gateway Timeout."),  # [U]
}


def status_error_response(family: Family, function: str, status: int) -> Response:
    code, message = ITEM_STATUS_CODES[status]
    if family == "order":
        short = function.rsplit(".", 1)[-1]
        messages = [order_message("ERROR", order_code(short, "ERROR", str(status)), message)]  # [U] codes
        return OrderApiError(status, messages).response()
    return ItemApiError.one(status, code, message).response()
