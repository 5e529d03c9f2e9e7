"""Masking of buyers' personal data in RMS payloads before they reach a log, a record or an error."""

from __future__ import annotations

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
    masked: dict[Any, Any] = {}
    for key, value in payload.items():
        if key in PERSONAL_FIELDS or (
            key == "searchKeyword" and payload.get("searchKeywordType") in _PERSONAL_KEYWORD_TYPES
        ):
            masked[key] = _mask_value(value)
        else:
            masked[key] = mask_personal(value)
    return masked


def _mask_value(value: Any) -> Any:
    if value is None or value == "":
        return value
    return MASK
