"""Carriers: one adapter interface (create a shipment, track, cancel); Yamato, Sagawa and Japan Post
over the carrier sandbox's HTTP API; and "Other" for numbers typed in by hand, for any Rakuten code."""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

import httpx

from kura.channels.rakuten.statuses import CARRIERS, Carrier
from kura.errors import Invalid, KuraError
from kura.japan import full_name
from kura.shipping.labels import Label, render_label
from kura.shipping.tracking import (
    TrackingStatus,
    normalise_status,
    normalize_number,
    s10_valid,
    validate_mod7,
    validate_s10,
)

YAMATO: Final = "1001"
SAGAWA: Final = "1002"
JAPAN_POST: Final = "1003"
OTHER: Final = "1000"
DEFAULT_SANDBOX_URL: Final = "http://127.0.0.1:8766"


def default_base_url() -> str:
    """Where the carrier API lives: KURA_CARRIERS_URL, else the local carrier sandbox."""
    return os.environ.get("KURA_CARRIERS_URL", DEFAULT_SANDBOX_URL)


# ------------------------------------------------------------------------------------------------ errors


class CarrierError(KuraError):
    """A carrier call went wrong; `carrier_code` says which carrier."""

    code = "carrier_error"
    status = 502


class CarrierUnavailable(CarrierError):
    """The carrier could not be reached or answered 5xx/429; nothing changed there, so try again later."""

    code = "carrier_unavailable"
    status = 503


class CarrierRejected(CarrierError):
    """The carrier refused the request (a missing address field, an unknown slot); fix the parcel and resend."""

    code = "carrier_rejected"
    status = 422


class UnknownShipment(CarrierError):
    """The carrier has no shipment with that tracking number."""

    code = "unknown_shipment"
    status = 404


class CannotCancel(CarrierError):
    """The parcel has been handed over already; it can only be returned, not cancelled."""

    code = "cannot_cancel"
    status = 409


# ------------------------------------------------------------------------------------------- time slots


@dataclass(frozen=True)
class TimeSlot:
    """A delivery time slot (時間帯指定) and each carrier's code for it (reference §9.5)."""

    key: str
    label_ja: str
    start_hour: int
    codes: dict[str, str] = field(hash=False, compare=False)  # Rakuten carrier code -> the carrier's own code


TIME_SLOTS: Final[tuple[TimeSlot, ...]] = (
    TimeSlot("morning", "午前中", 8, {YAMATO: "0812", SAGAWA: "01", JAPAN_POST: "60"}),
    TimeSlot("12-14", "12時～14時", 12, {SAGAWA: "12", JAPAN_POST: "62"}),
    TimeSlot("14-16", "14時～16時", 14, {YAMATO: "1416", SAGAWA: "14", JAPAN_POST: "63"}),
    TimeSlot("16-18", "16時～18時", 16, {YAMATO: "1618", SAGAWA: "16", JAPAN_POST: "64"}),
    TimeSlot("18-20", "18時～20時", 18, {YAMATO: "1820", SAGAWA: "18", JAPAN_POST: "65"}),
    TimeSlot("19-21", "19時～21時", 19, {YAMATO: "1921", SAGAWA: "19", JAPAN_POST: "67"}),
    TimeSlot("20-21", "20時～21時", 20, {JAPAN_POST: "66"}),
)
_SLOT_NAMES: Final[dict[str, TimeSlot]] = {
    name: s
    for s in TIME_SLOTS
    for name in (s.key, s.label_ja, s.key.replace("-", ""), unicodedata.normalize("NFKC", s.label_ja))
} | {"午前": TIME_SLOTS[0], "0812": TIME_SLOTS[0], "812": TIME_SLOTS[0], "1": TIME_SLOTS[0]}


def time_slot(value: str | TimeSlot | None) -> TimeSlot | None:
    """A slot from its key (`14-16`), Rakuten's `shippingTerm` (`1416`, `1` = morning) or its label (`午前中`);
    None or `0` for no slot."""
    if value is None or isinstance(value, TimeSlot):
        return value
    text = unicodedata.normalize("NFKC", value).strip()
    if text in ("", "0"):
        return None
    if text not in _SLOT_NAMES:
        raise Invalid("time_slot", f"{value!r} is not a delivery time slot; use one of {[s.key for s in TIME_SLOTS]}.")
    return _SLOT_NAMES[text]


def slot_for_carrier(carrier_code: str, slot: TimeSlot | None) -> TimeSlot | None:
    """The slot the carrier will book: the same one, else the nearest later one it offers (Yamato has no
    12–14), else its latest. A buyer who asked for 12–14 gets 14–16 rather than the morning."""
    if slot is None or carrier_code in slot.codes:
        return slot
    offered = [s for s in TIME_SLOTS if carrier_code in s.codes]
    if not offered:
        return slot  # a carrier Kura does not book slots with: the label still shows the buyer's wish
    later = [s for s in offered if s.start_hour >= slot.start_hour]
    return later[0] if later else offered[-1]


# ------------------------------------------------------------------------------------- parcels and results


class AddressLike(Protocol):
    """What `Party.from_address` reads: kura.orders.models.Address has these fields."""

    family_name: str
    given_name: str
    postal_code: str
    prefecture: str
    address_line1: str
    address_line2: str | None
    phone: str


@dataclass(frozen=True)
class Party:
    """A sender or a recipient as a label shows them."""

    name: str
    postal_code: str  # NNN-NNNN
    prefecture: str
    address_line1: str
    address_line2: str | None = None
    phone: str = ""
    company: str | None = None

    @classmethod
    def from_address(cls, address: AddressLike, company: str | None = None) -> Party:
        return cls(
            name=full_name(address.family_name, address.given_name), postal_code=address.postal_code,
            prefecture=address.prefecture, address_line1=address.address_line1,
            address_line2=address.address_line2, phone=address.phone, company=company,
        )  # fmt: skip


@dataclass(frozen=True)
class Parcel:
    """One parcel to ship. Amounts are integer yen."""

    reference: str  # the order number (お客様管理番号)
    sender: Party
    recipient: Party
    description: str = ""  # 品名
    time_slot: TimeSlot | None = None
    delivery_date: dt.date | None = None
    ship_date: dt.date | None = None
    cod_amount: int | None = None  # 代金引換: what the driver collects, tax included
    pieces: int = 1
    tracking_number: str | None = None  # only for ManualCarrier: the number written on a slip from elsewhere


@dataclass(frozen=True)
class Shipment:
    """A shipment the carrier accepted: its tracking number and label."""

    carrier_code: str
    tracking_number: str  # digits only (or the S10 / carrier's own form)
    label: Label
    label_pdf: bytes  # empty when asked for no label (bulk printing renders them together)
    tracking_url: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class TrackingEvent:
    occurred_at: dt.datetime  # tz-aware
    status: TrackingStatus
    raw_status: str  # the carrier's own words: 配達完了, ↓輸送中, …
    location: str | None = None


@dataclass(frozen=True)
class TrackingResult:
    carrier_code: str
    tracking_number: str
    found: bool
    status: TrackingStatus
    events: tuple[TrackingEvent, ...] = ()
    tracking_url: str | None = None
    message: str | None = None  # the carrier's words when it does not know the number

    @property
    def delivered_at(self) -> dt.datetime | None:
        return next((e.occurred_at for e in reversed(self.events) if e.status is TrackingStatus.DELIVERED), None)


def current_status(events: Sequence[TrackingEvent]) -> TrackingStatus:
    """The status of the latest event whose words are known; label issued when there is none yet."""
    known = [e.status for e in events if e.status is not TrackingStatus.UNKNOWN]
    return known[-1] if known else TrackingStatus.INFORMATION_RECEIVED


# ------------------------------------------------------------------------------------------ number rules


def _free_text(number: str, field: str = "tracking_number") -> str:
    """Carriers without a known check: Rakuten takes up to 120 characters (reference §2.1)."""
    text = unicodedata.normalize("NFKC", number).strip()
    if not text or len(text) > 120 or not text.isprintable():
        raise Invalid(field, f"{number!r} is not a tracking number; give 1–120 printable characters.")
    return text


def _japan_post(number: str, field: str = "tracking_number") -> str:
    """Domestic (12 digits, 7DR) or international (UPU S10)."""
    return validate_s10(number, field) if normalize_number(number)[:1].isalpha() else validate_mod7(number, field)


# Rakuten carrier code -> how its numbers are checked (reference §2.1); others take free text.
NUMBER_RULES: Final[dict[str, Callable[[str, str], str]]] = {
    YAMATO: validate_mod7,
    SAGAWA: validate_mod7,
    JAPAN_POST: _japan_post,
    "1017": validate_s10,  # EMS
    "1029": validate_mod7,  # Japan Post, shipped from Rakuten's warehouse
    "1030": validate_mod7,  # Yamato クロネコゆうパケット
}

TRACKING_URLS: Final[dict[str, str]] = {
    YAMATO: "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number01={number}",
    SAGAWA: "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
    JAPAN_POST: "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S003&locale=ja"
    "&SVID=023&reqCodeNo1={number}",
    "1017": "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S003&locale=ja"
    "&SVID=023&reqCodeNo1={number}",
    "1029": "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S003&locale=ja"
    "&SVID=023&reqCodeNo1={number}",
    "1030": "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number01={number}",
}


def validate_number(carrier_code: str, number: str) -> str:
    """A tracking number normalised for the carrier, or `Invalid` that says why (with the expected check digit)."""
    return NUMBER_RULES.get(carrier_code, _free_text)(number, "tracking_number")


def carrier_info(code: str) -> Carrier:
    if code not in CARRIERS:
        raise Invalid("carrier_code", f"{code!r} is not a Rakuten carrier code; use 1000–1031 (1000 = その他).")
    return CARRIERS[code]


# -------------------------------------------------------------------------------------------- adapters


class CarrierAdapter(ABC):
    """What Kura asks of a carrier. Implementations issue numbers (`_issue`), track and cancel; the label
    is rendered here unless the carrier hands back its own."""

    code: ClassVar[str]

    @property
    def carrier(self) -> Carrier:
        return carrier_info(self.code)

    @property
    def display_name(self) -> str:
        """The carrier's name as labels print it."""
        return self.carrier.name_ja

    def validate_number(self, number: str) -> str:
        return validate_number(self.code, number)

    def tracking_url(self, number: str) -> str | None:
        template = TRACKING_URLS.get(self.code)
        return template.format(number=number) if template else None

    def create_shipment(self, parcel: Parcel, *, with_label: bool = True) -> Shipment:
        """Registers the parcel with the carrier; returns its tracking number and its label (A6 PDF)."""
        _check_parcel(parcel)
        slot = slot_for_carrier(self.code, parcel.time_slot)
        number, created_at, carrier_pdf = self._issue(parcel, slot)
        label = Label(self.code, number, parcel, slot, carrier_name=self.display_name)
        pdf = carrier_pdf if carrier_pdf is not None else render_label(label) if with_label else b""
        return Shipment(self.code, number, label, pdf, self.tracking_url(number), created_at)

    @abstractmethod
    def _issue(self, parcel: Parcel, slot: TimeSlot | None) -> tuple[str, dt.datetime, bytes | None]:
        """(tracking number, when, the carrier's own label PDF or None to render Kura's)."""

    @abstractmethod
    def track(self, tracking_numbers: Sequence[str]) -> list[TrackingResult]:
        """One result per number, in order; events oldest first, statuses normalised."""

    @abstractmethod
    def cancel(self, tracking_number: str) -> None:
        """Withdraws a shipment that has not been picked up; `CannotCancel` once it has."""


def _check_parcel(parcel: Parcel) -> None:
    if parcel.cod_amount is not None and parcel.cod_amount <= 0:
        raise Invalid("cod_amount", f"Cash on delivery needs a positive number of yen, not {parcel.cod_amount}.")
    if parcel.pieces < 1:
        raise Invalid("pieces", "A parcel has at least one piece.")
    for role, party in (("sender", parcel.sender), ("recipient", parcel.recipient)):
        missing = [f for f in ("name", "postal_code", "prefecture", "address_line1") if not getattr(party, f).strip()]
        if missing:
            raise Invalid(role, f"The {role} has no {', '.join(missing)}; a label cannot be printed without it.")


class SandboxCarrier(CarrierAdapter):
    """A carrier reached through the carrier sandbox's JSON API (`carriers_sandbox`). A real carrier API
    would be another CarrierAdapter with its own `_issue`/`track`/`cancel`; nothing else changes."""

    sandbox_key: ClassVar[str]
    max_numbers_per_query: ClassVar[int] = 10

    def __init__(self, base_url: str | None = None, *, client: httpx.Client | None = None,
                 timeout: float = 10.0) -> None:  # fmt: skip
        self.base_url = (base_url or default_base_url()).rstrip("/")
        self._http = client or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _call(self, action: str) -> Iterator[None]:
        """Maps transport errors onto the carrier error family."""
        try:
            yield
        except httpx.TransportError as exc:
            raise CarrierUnavailable(
                f"{self.carrier.name_en} could not be reached to {action} ({exc.__class__.__name__}); "
                "nothing was changed, try again later.", carrier_code=self.code,
            ) from exc  # fmt: skip

    def _json(self, response: httpx.Response, action: str) -> Any:
        if response.status_code == 429 or response.status_code >= 500:
            raise CarrierUnavailable(
                f"{self.carrier.name_en} answered {response.status_code} to {action}; try again later.",
                carrier_code=self.code, http_status=response.status_code,
            )  # fmt: skip
        try:
            body = response.json() if response.content else {}
        except ValueError:  # not JSON (a proxy's error page): its text may echo the request, so it is not kept
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 404:
            raise UnknownShipment(f"{self.carrier.name_en}: {body.get('error', 'not found')}", carrier_code=self.code)
        if response.status_code == 409:
            raise CannotCancel(f"{self.carrier.name_en}: {body.get('error')}", carrier_code=self.code)
        if response.status_code >= 400:
            errors = body.get("errors") or [body.get("error", f"HTTP {response.status_code}")]
            raise CarrierRejected(
                f"{self.carrier.name_en} refused to {action}: {'; '.join(map(str, errors))}.",
                carrier_code=self.code, errors=errors,
            )  # fmt: skip
        return body

    def _issue(self, parcel: Parcel, slot: TimeSlot | None) -> tuple[str, dt.datetime, bytes | None]:
        if parcel.tracking_number:
            raise Invalid(
                "tracking_number",
                f"{self.carrier.name_en} issues its own numbers; to record a number from a slip printed elsewhere, "
                f"use ManualCarrier({self.code!r}).",
            )
        with self._call("issue a tracking number"):
            response = self._http.post(f"/v1/{self.sandbox_key}/shipments", json=_request_body(self.code, parcel, slot))
        body = self._json(response, "issue a tracking number")
        number = self.validate_number(str(body["tracking_number"]))  # a bad number from the carrier is a bug there
        return number, dt.datetime.fromisoformat(body["created_at"]), None

    def track(self, tracking_numbers: Sequence[str]) -> list[TrackingResult]:
        numbers = [self.validate_number(n) for n in tracking_numbers]
        results: list[TrackingResult] = []
        for i in range(0, len(numbers), self.max_numbers_per_query):
            chunk = numbers[i : i + self.max_numbers_per_query]
            with self._call("track parcels"):
                response = self._http.get(f"/v1/{self.sandbox_key}/tracking", params={"numbers": ",".join(chunk)})
            for row in self._json(response, "track parcels")["results"]:
                results.append(self._result(row))
        return results

    def _result(self, row: dict[str, Any]) -> TrackingResult:
        number = str(row["tracking_number"])
        if not row.get("found"):
            return TrackingResult(self.code, number, False, TrackingStatus.UNKNOWN,
                                  tracking_url=self.tracking_url(number), message=row.get("message"))
        events = tuple(
            TrackingEvent(dt.datetime.fromisoformat(e["at"]), normalise_status(self.code, e["status"]), e["status"],
                          e.get("location"))
            for e in row.get("events", [])
        )  # fmt: skip
        return TrackingResult(self.code, number, True, current_status(events), events, self.tracking_url(number))

    def cancel(self, tracking_number: str) -> None:
        number = self.validate_number(tracking_number)
        with self._call("cancel a shipment"):
            response = self._http.delete(f"/v1/{self.sandbox_key}/shipments/{number}")
        self._json(response, "cancel a shipment")


def _party_json(party: Party) -> dict[str, Any]:
    return {"name": party.name, "company": party.company, "postal_code": party.postal_code,
            "prefecture": party.prefecture, "address1": party.address_line1, "address2": party.address_line2,
            "phone": party.phone}  # fmt: skip


def _request_body(carrier_code: str, parcel: Parcel, slot: TimeSlot | None) -> dict[str, Any]:
    return {
        "reference": parcel.reference,
        "shipper": _party_json(parcel.sender),
        "consignee": _party_json(parcel.recipient),
        "description": parcel.description,
        "time_slot": slot.codes.get(carrier_code) if slot else None,
        "delivery_date": parcel.delivery_date.isoformat() if parcel.delivery_date else None,
        "ship_date": parcel.ship_date.isoformat() if parcel.ship_date else None,
        "cod_amount": parcel.cod_amount,
        "pieces": parcel.pieces,
    }


class Yamato(SandboxCarrier):
    code = YAMATO
    sandbox_key = "yamato"


class Sagawa(SandboxCarrier):
    code = SAGAWA
    sandbox_key = "sagawa"


class JapanPost(SandboxCarrier):
    code = JAPAN_POST
    sandbox_key = "japanpost"

    def track(self, tracking_numbers: Sequence[str]) -> list[TrackingResult]:
        """International (S10) numbers are not in the domestic API: they come back unknown, with the link."""
        numbers = [self.validate_number(n) for n in tracking_numbers]
        domestic = iter(super().track([n for n in numbers if not s10_valid(n)]))
        return [
            TrackingResult(self.code, n, False, TrackingStatus.UNKNOWN, tracking_url=self.tracking_url(n))
            if s10_valid(n) else next(domestic)
            for n in numbers
        ]  # fmt: skip


class ManualCarrier(CarrierAdapter):
    """"Other": any Rakuten carrier code 1000–1031, with the number typed in from a slip printed elsewhere.
    Numbers are checked where the carrier's rule is known (7DR, S10); there is no tracking feed."""

    code: str  # type: ignore[misc]  # per instance here, per class elsewhere

    def __init__(self, code: str = OTHER, name: str | None = None) -> None:
        carrier_info(code)
        self.code = code
        self.name = name  # for 1000 (その他): the carrier's name as the shop writes it

    @property
    def display_name(self) -> str:
        return self.name or self.carrier.name_ja

    def _issue(self, parcel: Parcel, slot: TimeSlot | None) -> tuple[str, dt.datetime, bytes | None]:
        if not parcel.tracking_number:
            raise Invalid("tracking_number", f"Enter the {self.carrier.name_en} tracking number from the slip.")
        return self.validate_number(parcel.tracking_number), dt.datetime.now(dt.UTC), None

    def track(self, tracking_numbers: Sequence[str]) -> list[TrackingResult]:
        return [
            TrackingResult(self.code, n, True, TrackingStatus.UNKNOWN, tracking_url=self.tracking_url(n),
                           message="no tracking feed for this carrier; follow the link")
            for n in (self.validate_number(n) for n in tracking_numbers)
        ]  # fmt: skip

    def cancel(self, tracking_number: str) -> None:
        """Nothing was booked with the carrier through Kura, so there is nothing to withdraw."""
        self.validate_number(tracking_number)


BUILT_IN: Final[dict[str, type[SandboxCarrier]]] = {YAMATO: Yamato, SAGAWA: Sagawa, JAPAN_POST: JapanPost}


def carrier_adapter(code: str, *, base_url: str | None = None, manual: bool = False) -> CarrierAdapter:
    """The adapter for a Rakuten carrier code: built in for 1001/1002/1003 (unless `manual`), else manual entry."""
    carrier_info(code)
    if code in BUILT_IN and not manual:
        return BUILT_IN[code](base_url)
    return ManualCarrier(code)
