"""Date and time formats of the RMS APIs: JST, `+0900` in the Order API and `+09:00` in Item/Inventory."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

JST = timezone(timedelta(hours=9))

_ORDER_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0900$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_jst(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, JST)


def order_dt(ts: float | None) -> str | None:
    """Order API datetime: `2024-05-03T14:22:05+0900` (no colon in the offset)."""
    if ts is None:
        return None
    return to_jst(ts).strftime("%Y-%m-%dT%H:%M:%S+0900")


def item_dt(ts: float | None) -> str | None:
    """Item/Inventory API datetime: `2024-05-01T10:15:30+09:00`."""
    if ts is None:
        return None
    return _item_dt(ts)


@lru_cache(maxsize=65536)
def _item_dt(ts: float) -> str:
    # An items.search page or an inventories.bulk.get answer formats two timestamps per record, and a seeded
    # catalog's records share them: formatted once (it was a fifth of the sandbox's CPU in a bulk import).
    return to_jst(ts).strftime("%Y-%m-%dT%H:%M:%S+09:00")


def jst_date(ts: float) -> str:
    return to_jst(ts).strftime("%Y-%m-%d")


def parse_order_dt(value: object) -> float | None:
    """Parses an Order API datetime; None when the format is not exactly `YYYY-MM-DDThh:mm:ss+0900`."""
    if not isinstance(value, str) or not _ORDER_DT.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    """Parses `YYYY-MM-DD` (the only date format the Order API accepts)."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def date_start_ts(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=JST).timestamp()


def parse_iso(value: str) -> float:
    """Parses any ISO 8601 datetime (admin input); naive values are taken as JST."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=JST)
    return dt.timestamp()


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
