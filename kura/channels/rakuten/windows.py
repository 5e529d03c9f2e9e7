"""Splitting of an order-search date range into the windows searchOrder accepts (pure functions)."""

from __future__ import annotations

from datetime import datetime, timedelta

from kura.channels.rakuten.errors import InvalidRequest

ONE_SECOND = timedelta(seconds=1)


def _whole_seconds(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidRequest("order search times must be timezone-aware", function="rpay.order.searchOrder")
    return value.replace(microsecond=0)


def search_windows(
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    max_days: int = 63,
    max_age_days: int = 730,
) -> list[tuple[datetime, datetime]]:
    """Consecutive, non-overlapping [start, end] windows (inclusive, whole seconds) covering the range.

    Each window spans at most `max_days` (end − start ≤ max_days); the next starts one second after
    the previous ends, since RMS compares to the second. A start older than `max_age_days` is refused
    rather than silently cut, so a caller never believes it has imported what RMS would not return.
    """
    start, end, now = _whole_seconds(start), _whole_seconds(end), _whole_seconds(now)
    if end < start:
        raise InvalidRequest(
            f"order search range ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            function="rpay.order.searchOrder",
        )
    oldest = now - timedelta(days=max_age_days)
    if start < oldest:
        raise InvalidRequest(
            f"RMS keeps orders searchable for {max_age_days} days; start at {oldest.isoformat()} or later "
            f"(asked for {start.isoformat()})",
            function="rpay.order.searchOrder",
        )
    span = timedelta(days=max_days)
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor <= end:
        window_end = min(cursor + span, end)
        windows.append((cursor, window_end))
        cursor = window_end + ONE_SECOND
    return windows


def halve(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Two adjacent windows covering [start, end]; used when a window holds more than RMS returns."""
    if end - start < ONE_SECOND:
        raise ValueError("a one-second window cannot be split further")
    middle = start + (end - start) // 2
    middle = middle.replace(microsecond=0)
    return [(start, middle), (middle + ONE_SECOND, end)]
