"""Parcels: issuing tracking numbers, planning each parcel's journey, showing what has happened by now,
cancelling, and forcing an outcome. A parcel's whole journey is planned when it is created (from the
seed), so the clock alone decides what a tracking query sees."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from carriers_sandbox.carriers import PROFILES, CarrierProfile, mod7, valid_number
from carriers_sandbox.clock import Clock, iso_jst
from carriers_sandbox.config import CarrierSandboxConfig
from carriers_sandbox.store import Store

OUTCOMES = ("delivered", "absent", "failed", "lost")
# What follows "out for delivery" for each outcome; a lost parcel goes missing in transit instead.
ENDINGS: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "absent": ("absent", "redelivery", "out", "delivered"),
    "failed": ("absent", "failed", "returned"),
    "lost": ("investigating", "lost"),
}
TERMINAL = frozenset({"delivered", "returned", "lost", "cancelled"})
_POSTAL = re.compile(r"^\d{3}-?\d{4}$")


class ParcelError(Exception):
    """A request the carrier refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


@dataclass
class Event:
    step: str
    at: float
    word: str
    location: str | None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "at": self.at, "word": self.word, "location": self.location}


def validate_request(profile: CarrierProfile, body: dict[str, Any]) -> list[str]:
    """What is wrong with a shipment request, as the carrier's error messages."""
    errors: list[str] = []
    for party in ("shipper", "consignee"):
        data = body.get(party)
        if not isinstance(data, dict):
            errors.append(f"{party} is required")
            continue
        for key in ("name", "postal_code", "prefecture", "address1", "phone"):
            if not str(data.get(key) or "").strip():
                errors.append(f"{party}.{key} is required")
        if data.get("postal_code") and not _POSTAL.match(str(data["postal_code"])):
            errors.append(f"{party}.postal_code must be NNN-NNNN")
    slot = body.get("time_slot")
    if slot not in (None, "") and slot not in profile.time_slots:
        errors.append(f"time_slot {slot!r} is not a {profile.key} slot code; use one of {sorted(profile.time_slots)}")
    cod = body.get("cod_amount")
    if cod is not None and (not isinstance(cod, int) or isinstance(cod, bool) or cod <= 0):
        errors.append("cod_amount must be a positive whole number of yen")
    return errors


class Parcels:
    """The parcels of all three carriers, on one store and one clock."""

    def __init__(self, store: Store, clock: Clock, config: CarrierSandboxConfig) -> None:
        self.store = store
        self.clock = clock
        self.config = config

    # ------------------------------------------------------------------------------------- issuing

    def profile(self, carrier: str) -> CarrierProfile:
        if carrier not in PROFILES:
            raise ParcelError(404, f"unknown carrier {carrier!r}; known: {sorted(PROFILES)}")
        return PROFILES[carrier]

    def create(self, carrier: str, body: dict[str, Any]) -> dict[str, Any]:
        profile = self.profile(carrier)
        errors = validate_request(profile, body)
        if errors:
            raise ParcelError(400, "invalid shipment request", errors=errors)
        now = self.clock.now()
        with self.store.tx() as conn:
            number = self._new_number(conn, profile)
            outcome = self._draw_outcome(number)
            events = self._plan(profile, body, self._path(profile, outcome), [], now)
            conn.execute(
                "INSERT INTO parcels (tracking_number, carrier, created, outcome, reference, request, events) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, carrier, now, outcome, body.get("reference"), json.dumps(body, ensure_ascii=False),
                 json.dumps([e.to_json() for e in events], ensure_ascii=False)),
            )
        return {"carrier": carrier, "tracking_number": number, "created_at": iso_jst(now),
                "tracking_url": profile.tracking_url.format(number=number)}

    def _new_number(self, conn: Any, profile: CarrierProfile) -> str:
        """A unique 12-digit number with a valid check digit, a function of (seed, carrier, sequence)."""
        counters = self.store.get_meta("counters") or {}
        seq = int(counters.get(profile.key, 0))
        while True:
            seq += 1
            rng = random.Random(f"{self.config.seed}:{profile.key}:{seq}")
            width = 11 - len(profile.number_prefix)
            body = profile.number_prefix + f"{rng.randrange(10**width):0{width}d}"
            number = mod7(body)
            if conn.execute("SELECT 1 FROM parcels WHERE tracking_number = ?", (number,)).fetchone() is None:
                break
        counters[profile.key] = seq
        self.store.set_meta("counters", counters)
        return number

    def _draw_outcome(self, number: str) -> str:
        r = random.Random(f"{self.config.seed}:outcome:{number}").random()
        c = self.config
        for outcome, share in (("lost", c.lost_rate), ("failed", c.failed_rate), ("absent", c.absent_rate)):
            if r < share:
                return outcome
            r -= share
        return "delivered"

    # ------------------------------------------------------------------------------------- journeys

    @staticmethod
    def _path(profile: CarrierProfile, outcome: str) -> list[str]:
        start = ["info"] if "info" in profile.words else []
        transits = [f"transit{i}" for i in range(len(profile.transit_words))]
        if outcome == "lost":
            return [*start, "pickup", transits[0], *ENDINGS["lost"]]
        return [*start, "pickup", *transits, "out", *ENDINGS[outcome]]

    def _plan(self, profile: CarrierProfile, request: dict[str, Any], steps: list[str], done: list[Event],
              start: float, at_once: bool = False) -> list[Event]:
        """`done` followed by events for `steps`, each its usual time after the one before."""
        origin = str(request.get("shipper", {}).get("prefecture", ""))
        destination = str(request.get("consignee", {}).get("prefecture", ""))
        events = list(done)
        at = start
        location: str | None
        for step in steps:
            kind = "transit" if step.startswith("transit") else step
            at = start if at_once else at + self.config.timing(kind)
            if kind == "transit":
                i = int(step[len("transit"):])
                word = profile.transit_words[i]
                last = i == len(profile.transit_words) - 1
                hub = f"{origin if i == 0 else destination}{profile.hub}"
                location = f"{destination}{profile.office}" if last else hub
            else:
                word = profile.words[kind]
                location = {"info": None, "pickup": f"{origin}{profile.office}",
                            "investigating": f"{origin}{profile.hub}"}.get(kind, f"{destination}{profile.office}")
            events.append(Event(step, at, word, location))
        return events

    # ------------------------------------------------------------------------------------- reading

    def _row(self, number: str) -> Any:
        row = self.store.one("SELECT * FROM parcels WHERE tracking_number = ?", (number,))
        if row is None:
            raise ParcelError(404, f"no parcel {number}")
        return row

    @staticmethod
    def _events(row: Any) -> list[Event]:
        return [Event(**e) for e in json.loads(row["events"])]

    def track(self, carrier: str, numbers: list[str]) -> list[dict[str, Any]]:
        profile = self.profile(carrier)
        if len(numbers) > self.config.max_numbers_per_query:
            raise ParcelError(400, f"at most {self.config.max_numbers_per_query} numbers per query")
        now = self.clock.now()
        results = []
        for raw in numbers:
            number = re.sub(r"[\s-]", "", raw)
            row = self.store.one("SELECT * FROM parcels WHERE tracking_number = ? AND carrier = ?", (number, carrier))
            if row is None or not valid_number(number):
                results.append({"tracking_number": number, "found": False, "message": profile.not_found})
                continue
            seen = [e for e in self._events(row) if e.at <= now]
            results.append({
                "tracking_number": number, "found": True,
                "events": [{"at": iso_jst(e.at), "status": e.word, "location": e.location} for e in seen],
            })
        return results

    def view(self, number: str) -> dict[str, Any]:
        """Admin view: the whole plan, future included."""
        row = self._row(number)
        now = self.clock.now()
        return {
            "tracking_number": number, "carrier": row["carrier"], "outcome": row["outcome"],
            "reference": row["reference"], "created_at": iso_jst(row["created"]),
            "request": json.loads(row["request"]),
            "events": [{**e.to_json(), "at_jst": iso_jst(e.at), "happened": e.at <= now} for e in self._events(row)],
        }

    def list_parcels(self, carrier: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT tracking_number, carrier, outcome, reference, created FROM parcels"
        rows = self.store.query(sql + " WHERE carrier = ? ORDER BY created" if carrier else sql + " ORDER BY created",
                                (carrier,) if carrier else ())
        return [{"tracking_number": r["tracking_number"], "carrier": r["carrier"], "outcome": r["outcome"],
                 "reference": r["reference"], "created_at": iso_jst(r["created"])} for r in rows]

    # ------------------------------------------------------------------------------------- changing

    def cancel(self, carrier: str, number: str) -> dict[str, Any]:
        profile = self.profile(carrier)
        now = self.clock.now()
        with self.store.tx() as conn:
            row = conn.execute("SELECT * FROM parcels WHERE tracking_number = ? AND carrier = ?",
                               (number, carrier)).fetchone()
            if row is None:
                raise ParcelError(404, f"no {carrier} parcel {number}")
            done = [e for e in self._events(row) if e.at <= now]
            if any(e.step != "info" for e in done):
                raise ParcelError(409, f"parcel {number} is already {done[-1].word}; it can no longer be cancelled",
                                  current=done[-1].word)
            events = [*done, Event("cancelled", now, profile.words["cancelled"], None)]
            self._save(conn, number, "cancelled", events)
        return {"tracking_number": number, "cancelled": True}

    def force(self, number: str, outcome: str, at_once: bool = False) -> dict[str, Any]:
        """Replans the rest of a parcel's journey so that it ends in `outcome`."""
        if outcome == "returned":
            outcome = "failed"
        if outcome not in OUTCOMES:
            raise ParcelError(400, f"outcome must be one of {[*OUTCOMES, 'returned']}")
        now = self.clock.now()
        with self.store.tx() as conn:
            row = conn.execute("SELECT * FROM parcels WHERE tracking_number = ?", (number,)).fetchone()
            if row is None:
                raise ParcelError(404, f"no parcel {number}")
            profile = PROFILES[row["carrier"]]
            done = [e for e in self._events(row) if e.at <= now]
            if done and done[-1].step in TERMINAL:
                raise ParcelError(409, f"parcel {number} is already {done[-1].step}", current=done[-1].step)
            steps = self._remaining(profile, [e.step for e in done], outcome)
            events = self._plan(profile, json.loads(row["request"]), steps, done,
                                now if at_once or not done else max(now, done[-1].at), at_once)
            self._save(conn, number, outcome, events)
        return self.view(number)

    def _remaining(self, profile: CarrierProfile, done: list[str], outcome: str) -> list[str]:
        if outcome == "lost":
            return list(ENDINGS["lost"][1:] if done[-1:] == ["investigating"] else ENDINGS["lost"])
        path = self._path(profile, outcome)
        if done == path[: len(done)]:
            return path[len(done):]
        # Already past the first attempt (absent, redelivery, second round): go out again and end there.
        lead = {"absent": ["redelivery", "out"], "redelivery": ["out"], "out": []}.get(done[-1], ["out"])
        return [*lead, *ENDINGS[outcome]]

    @staticmethod
    def _save(conn: Any, number: str, outcome: str, events: list[Event]) -> None:
        conn.execute("UPDATE parcels SET outcome = ?, events = ? WHERE tracking_number = ?",
                     (outcome, json.dumps([e.to_json() for e in events], ensure_ascii=False), number))
