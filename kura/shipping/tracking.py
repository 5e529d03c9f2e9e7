"""Tracking numbers (7DR mod 7, UPU S10 mod 11) and the carriers' status words mapped to Kura's statuses."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from kura.errors import Invalid

# ---------------------------------------------------------------------------------------------- numbers

_SEPARATORS = re.compile(r"[\s\-‐‑–—ー−]")
_S10 = re.compile(r"^([A-Z]{2})(\d{8})(\d)([A-Z]{2})$")
_S10_WEIGHTS: Final = (8, 6, 4, 2, 3, 5, 9, 7)


def normalize_number(raw: str) -> str:
    """Full-width to half-width (NFKC), upper case, hyphens and spaces removed: `４４４４-１３７５` → `44441375`."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()


def mod7_check_digit(body: str) -> int:
    """7DR: the check digit of an 11-digit body is the body, read as an integer, mod 7 (reference §2.2)."""
    if len(body) != 11 or not body.isdigit():
        raise ValueError(f"a 7DR body is 11 digits, not {body!r}")
    return int(body) % 7


def with_mod7(body: str) -> str:
    """The 12-digit tracking number of an 11-digit body: `12345678901` → `123456789013`."""
    return f"{body}{mod7_check_digit(body)}"


def mod7_valid(number: str) -> bool:
    """True for a 12-digit Yamato / Sagawa / Japan Post domestic number whose last digit is 7DR."""
    digits = normalize_number(number)
    return len(digits) == 12 and digits.isdigit() and mod7_check_digit(digits[:11]) == int(digits[11])


def validate_mod7(number: str, field: str = "tracking_number") -> str:
    """The number as 12 digits, or `Invalid` saying what is wrong and which check digit was expected."""
    digits = normalize_number(number)
    if len(digits) != 12 or not digits.isdigit():
        raise Invalid(field, f"{number!r} is not a tracking number of 12 digits (NNNN-NNNN-NNNN).")
    expected = mod7_check_digit(digits[:11])
    if int(digits[11]) != expected:
        raise Invalid(
            field,
            f"{number!r} has check digit {digits[11]}, but {digits[:11]} needs {expected} (7DR, mod 7): "
            f"check the number on the slip; {digits[:11]}{expected} would be valid.",
            expected_check_digit=expected,
        )
    return digits


def s10_check_digit(serial: str) -> int:
    """UPU S10 check digit of an 8-digit serial (Japan Post international, reference §2.3)."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError(f"an S10 serial is 8 digits, not {serial!r}")
    c = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return 0 if c == 10 else 5 if c == 11 else c


def s10_valid(number: str) -> bool:
    """True for an S10 item number such as `EE123456785JP` with a correct check digit."""
    match = _S10.match(normalize_number(number))
    return match is not None and s10_check_digit(match.group(2)) == int(match.group(3))


def validate_s10(number: str, field: str = "tracking_number") -> str:
    """The S10 number normalised, or `Invalid` naming the expected check digit."""
    text = normalize_number(number)
    match = _S10.match(text)
    if match is None:
        raise Invalid(field, f"{number!r} is not an international item number (2 letters, 9 digits, 2 letters).")
    expected = s10_check_digit(match.group(2))
    if int(match.group(3)) != expected:
        raise Invalid(
            field,
            f"{number!r} has check digit {match.group(3)}, but serial {match.group(2)} needs {expected} "
            f"(UPU S10, mod 11).",
            expected_check_digit=expected,
        )
    return text


def display_number(number: str) -> str:
    """12 digits shown as carriers print them, NNNN-NNNN-NNNN; anything else unchanged."""
    if len(number) == 12 and number.isdigit():
        return f"{number[:4]}-{number[4:8]}-{number[8:]}"
    return number


# --------------------------------------------------------------------------------------------- statuses


class TrackingStatus(StrEnum):
    """Kura's normalised parcel status (after delivery-tracker's enum, reference §3, split where shops act
    differently: an absent recipient is not a failure, a loss is not a return)."""

    UNKNOWN = "unknown"
    INFORMATION_RECEIVED = "information_received"  # label issued, not yet handed over
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ABSENT = "absent"  # recipient not at home, parcel brought back
    REDELIVERY = "redelivery"  # a new attempt is booked
    HELD = "held"  # kept at the office for collection
    DELIVERED = "delivered"
    FAILED = "failed"  # cannot be delivered (address unknown, refused, kept too long)
    RETURNED = "returned"  # on its way back to (or back at) the sender
    LOST = "lost"
    CANCELLED = "cancelled"  # the shipment was withdrawn before pickup


TERMINAL_STATUSES: Final = frozenset(
    {TrackingStatus.DELIVERED, TrackingStatus.RETURNED, TrackingStatus.LOST, TrackingStatus.CANCELLED}
)
"""After these nothing more happens to the parcel; tracking polls can stop."""

ANY_CARRIER: Final = "*"


@dataclass(frozen=True)
class StatusWord:
    """One row of the status table: a carrier's event text, what it means, and Kura's status."""

    carrier_code: str  # Rakuten deliveryCompany code, or ANY_CARRIER
    word: str
    meaning: str
    status: TrackingStatus


_S = TrackingStatus
# Reference §3. Rows marked ❓ there (or absent from it: failures, losses, returns) use the words the
# carriers' pages are reported to show; the carrier sandbox speaks exactly these words.
STATUS_WORDS: Final[tuple[StatusWord, ...]] = (
    # Yamato Transport
    StatusWord("1001", "出荷指示", "Shipping instruction registered", _S.INFORMATION_RECEIVED),
    StatusWord("1001", "荷物受付", "Package accepted at the origin office", _S.PICKED_UP),
    StatusWord("1001", "発送済み", "Shipped out", _S.IN_TRANSIT),
    StatusWord("1001", "発送", "Shipped out", _S.IN_TRANSIT),
    StatusWord("1001", "輸送中", "In transit", _S.IN_TRANSIT),
    StatusWord("1001", "作業店通過", "Passed a sorting base", _S.IN_TRANSIT),
    StatusWord("1001", "配達店到着", "Arrived at the delivering office", _S.IN_TRANSIT),
    StatusWord("1001", "配達中", "Out for delivery", _S.OUT_FOR_DELIVERY),
    StatusWord("1001", "持戻（ご不在）", "Brought back, recipient absent", _S.ABSENT),
    StatusWord("1001", "持戻", "Brought back", _S.ABSENT),
    StatusWord("1001", "再配達依頼受付", "Redelivery requested", _S.REDELIVERY),
    StatusWord("1001", "配達完了", "Delivered", _S.DELIVERED),
    StatusWord("1001", "調査中", "Under investigation", _S.IN_TRANSIT),
    StatusWord("1001", "紛失", "Lost", _S.LOST),
    StatusWord("1001", "お届け先不明", "Address unknown", _S.FAILED),
    StatusWord("1001", "返品", "Returned to sender", _S.RETURNED),
    StatusWord("1001", "伝票番号誤り", "Invalid tracking number", _S.UNKNOWN),
    # Sagawa Express (detail rows carry ↓ / ⇒ prefixes; normalise_status strips them)
    StatusWord("1002", "荷物受付", "Received", _S.INFORMATION_RECEIVED),
    StatusWord("1002", "集荷", "Picked up", _S.PICKED_UP),
    StatusWord("1002", "輸送中", "In transit", _S.IN_TRANSIT),
    StatusWord("1002", "配達中", "Out for delivery", _S.OUT_FOR_DELIVERY),
    StatusWord("1002", "持ち出し中", "Out for delivery", _S.OUT_FOR_DELIVERY),
    StatusWord("1002", "ご不在", "Recipient absent", _S.ABSENT),
    StatusWord("1002", "持ち帰り", "Brought back to the branch", _S.ABSENT),
    StatusWord("1002", "再配達", "Redelivery booked", _S.REDELIVERY),
    StatusWord("1002", "保留中", "On hold", _S.HELD),
    StatusWord("1002", "配達完了", "Delivered", _S.DELIVERED),
    StatusWord("1002", "調査中", "Under investigation", _S.IN_TRANSIT),
    StatusWord("1002", "紛失", "Lost", _S.LOST),
    StatusWord("1002", "配達不能", "Undeliverable", _S.FAILED),
    StatusWord("1002", "返送", "Returned to sender", _S.RETURNED),
    StatusWord("1002", "該当なし", "Not found", _S.UNKNOWN),
    # Japan Post
    StatusWord("1003", "引受", "Accepted", _S.PICKED_UP),
    StatusWord("1003", "中継", "Relay", _S.IN_TRANSIT),
    StatusWord("1003", "通過", "Passed an office", _S.IN_TRANSIT),
    StatusWord("1003", "到着", "Arrived at the delivery office", _S.IN_TRANSIT),
    StatusWord("1003", "持ち出し中", "Out for delivery", _S.OUT_FOR_DELIVERY),
    StatusWord("1003", "ご不在のため持ち戻り", "Absent, brought back", _S.ABSENT),
    StatusWord("1003", "不在", "Absent", _S.ABSENT),
    StatusWord("1003", "再配達受付", "Redelivery booked", _S.REDELIVERY),
    StatusWord("1003", "保管", "Held at the office", _S.HELD),
    StatusWord("1003", "お届け先 休日のため保管", "Held, recipient on holiday", _S.HELD),
    StatusWord("1003", "お届け先にお届け済み", "Delivered", _S.DELIVERED),
    StatusWord("1003", "窓口でお渡し", "Handed over at the counter", _S.DELIVERED),
    StatusWord("1003", "あて所に尋ねあたりません", "Addressee not found", _S.FAILED),
    StatusWord("1003", "保管期間経過", "Holding period expired", _S.FAILED),
    StatusWord("1003", "差出人に返送", "Returned to sender", _S.RETURNED),
    StatusWord("1003", "調査中", "Under investigation", _S.IN_TRANSIT),
    StatusWord("1003", "亡失", "Lost", _S.LOST),
    # Words any carrier may use
    StatusWord(ANY_CARRIER, "配達完了", "Delivered", _S.DELIVERED),
    StatusWord(ANY_CARRIER, "配達済み", "Delivered", _S.DELIVERED),
    StatusWord(ANY_CARRIER, "輸送中", "In transit", _S.IN_TRANSIT),
    StatusWord(ANY_CARRIER, "配達中", "Out for delivery", _S.OUT_FOR_DELIVERY),
    StatusWord(ANY_CARRIER, "不在", "Absent", _S.ABSENT),
    StatusWord(ANY_CARRIER, "紛失", "Lost", _S.LOST),
    StatusWord(ANY_CARRIER, "返送", "Returned to sender", _S.RETURNED),
    StatusWord(ANY_CARRIER, "取消", "Shipment cancelled", _S.CANCELLED),
)

_DECORATION = re.compile(r"^[\s↓⇒→▼・]+|\s+$")


def _fold(word: str) -> str:
    """Full-width brackets and spaces folded (NFKC), arrows that prefix Sagawa's rows removed."""
    return _DECORATION.sub("", unicodedata.normalize("NFKC", word))


_BY_WORD: Final[dict[tuple[str, str], TrackingStatus]] = {(w.carrier_code, _fold(w.word)): w.status
                                                          for w in STATUS_WORDS}


def normalise_status(carrier_code: str, word: str) -> TrackingStatus:
    """Kura's status for a carrier's event text; `UNKNOWN` for words the table does not know yet."""
    text = _fold(word)
    return _BY_WORD.get((carrier_code, text)) or _BY_WORD.get((ANY_CARRIER, text)) or TrackingStatus.UNKNOWN
