"""Field rules shared by ItemAPI 2.0 and InventoryAPI 2.x: identifiers, byte lengths, ranges, messages."""

from __future__ import annotations

import re
from typing import Any

from rms_sandbox.errors import ItemApiError, item_error_entry

_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def byte_len(value: str) -> int:
    # [U] Rakuten counts "bytes" without naming the encoding; UTF-8 is assumed here.
    return len(value.encode("utf-8"))


def mandatory(path: str) -> dict[str, Any]:
    return item_error_entry("IE0001", f"{path} is mandatory.", path)


def invalid(path: str, value: Any) -> dict[str, Any]:
    return item_error_entry("IE0002", f"{path} has an invalid value : {value}.", path)


def out_of_range(path: str, low: int, high: int) -> dict[str, Any]:
    return item_error_entry("IE0003", f"{path} must be between {low} and {high}.", path)


def too_long(path: str, limit: int) -> dict[str, Any]:
    return item_error_entry("IE0004", f"Max length of {path} must be within {limit} bytes.", path)


def not_in_enum(path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    return item_error_entry("IE0007", f"{path} must be one of {list(allowed)}.", path)


def too_many(path: str, limit: int) -> dict[str, Any]:
    return item_error_entry("IE1101", f"The number of {path} must be within {limit}.", path)


def check_manage_number(raw: str, path: str = "manageNumber") -> str:
    """Lower-cases a manageNumber and checks charset (IE0220) and length (32 bytes)."""
    if not raw:
        raise ItemApiError(400, [mandatory(path)])
    if not _ID.match(raw):
        raise ItemApiError.one(400, "IE0220", 'manageNumber is only allowed alphanumeric, "-" and "_".', path)
    if byte_len(raw) > 32:
        raise ItemApiError(400, [too_long(path, 32)])
    return raw.lower()


def variant_id_errors(raw: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(raw, str) or not raw:
        return [mandatory(path)]
    if not _ID.match(raw):
        return [invalid(path, raw)]
    if byte_len(raw) > 32:
        return [too_long(path, 32)]
    return []


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def int_in(value: Any, path: str, low: int, high: int, errors: list[dict[str, Any]]) -> None:
    if not is_int(value):
        errors.append(invalid(path, value))
    elif not low <= value <= high:
        errors.append(out_of_range(path, low, high))


def str_max(value: Any, path: str, limit: int, errors: list[dict[str, Any]]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        errors.append(invalid(path, value))
    elif byte_len(value) > limit:
        errors.append(too_long(path, limit))


def bool_field(value: Any, path: str, errors: list[dict[str, Any]]) -> None:
    if value is not None and not isinstance(value, bool):
        errors.append(invalid(path, value))


def price(value: Any, path: str, low: int, high: int, errors: list[dict[str, Any]]) -> str | None:
    """Prices are strings in the spec, but numbers are accepted too; returns the canonical string."""
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append(invalid(path, value))
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        number = int(value)
    else:
        errors.append(item_error_entry("IE0118" if isinstance(value, float | str) else "IE0002",
                                       f"{path} must be an integer.", path))
        return None
    if not low <= number <= high:
        errors.append(out_of_range(path, low, high))
        return None
    return str(number)
