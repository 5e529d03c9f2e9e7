"""Masking of buyers' personal data in RMS payloads before they reach a log, a record or an error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MASK = "***"

# Order API fields that identify a person (OrdererModel, SenderModel, SettlementModel, searchOrder
# filters). Prefecture stays readable: it helps with postage questions and identifies no one.
PERSONAL_FIELDS: frozenset[str] = frozenset(
    {
        "familyName",
        "firstName",
        "familyNameKana",
        "firstNameKana",
        "zipCode1",
        "zipCode2",
        "city",
        "subAddress",
        "phoneNumber",
        "phoneNumber1",
        "phoneNumber2",
        "phoneNumber3",
        "emailAddress",
        "ordererMailAddress",
        "birthYear",
        "birthMonth",
        "birthDay",
        "cardOwner",
        "cardNumber",
        "cardYm",
        "remarks",  # the buyer's free text: names, addresses and phone numbers turn up here
    }
)

# searchOrder's searchKeyword is personal when it searches memo, buyer or recipient names.
_PERSONAL_KEYWORD_TYPES = frozenset({3, 4, 5, 6})


def mask_personal(payload: Any) -> Any:
    """Returns a copy of a JSON-like value with every personal field replaced by "***".

    Keys are matched at any depth, so the same function serves getOrder responses, searchOrder
    requests and error bodies. Non-string values of a personal field (a birth year) are masked too;
    null and empty values stay as they are, so a record still shows which fields were set.
    """
    if isinstance(payload, Mapping):
        return _mask_mapping(payload)
    if isinstance(payload, list | tuple):
        return [mask_personal(value) for value in payload]
    return payload


def _mask_mapping(payload: Mapping[Any, Any]) -> dict[Any, Any]:
    return {key: _mask_value(value) if _personal(key, payload) else mask_personal(value)
            for key, value in payload.items()}  # fmt: skip


def _personal(key: Any, payload: Mapping[Any, Any]) -> bool:
    return key in PERSONAL_FIELDS or (
        key == "searchKeyword" and payload.get("searchKeywordType") in _PERSONAL_KEYWORD_TYPES
    )


def _mask_value(value: Any) -> Any:
    if value is None or value == "":
        return value
    return MASK


class _Full(Exception):
    pass


# One encoder for every piece of a preview: json.dumps with options builds a new encoder per call (~10× slower).
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def masked_for_log(payload: Any, limit: int) -> Any:
    """A JSON-like value as a log keeps it, personal data masked: the masked copy when its JSON text has at
    most `limit` characters, else `{"truncated": True, "preview": <the first limit/2 characters>}`.

    Only what the preview shows is read: an items.search page (100 items, ~300 KB of JSON) costs a few
    hundred small encodings instead of a masked deep copy and its whole JSON text."""
    if payload is None:
        return None
    parts: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)
        if size > limit:
            raise _Full

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            emit("{")
            for i, (key, item) in enumerate(value.items()):
                emit((", " if i else "") + _encode(str(key)) + ": ")
                walk(_mask_value(item) if _personal(key, value) else item)
            emit("}")
        elif isinstance(value, list | tuple):
            emit("[")
            for i, item in enumerate(value):
                if i:
                    emit(", ")
                walk(item)
            emit("]")
        else:
            emit(_encode(value))

    try:
        walk(payload)
    except _Full:
        return {"truncated": True, "preview": "".join(parts)[: limit // 2]}
    return mask_personal(payload)
