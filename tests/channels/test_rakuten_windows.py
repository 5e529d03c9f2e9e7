"""searchOrder windows: ≤63 days each, no gaps or overlaps, nothing older than 730 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from kura.channels.rakuten.errors import InvalidRequest
from kura.channels.rakuten.mapping import JST
from kura.channels.rakuten.windows import ONE_SECOND, halve, search_windows

NOW = datetime(2024, 6, 30, 12, 0, 0, tzinfo=JST)


def test_ninety_days_become_two_windows_of_at_most_63_days_without_gap_or_overlap() -> None:
    start, end = NOW - timedelta(days=90), NOW
    windows = search_windows(start, end, now=NOW)
    assert len(windows) == 2
    assert windows[0][0] == start and windows[-1][1] == end
    for lo, hi in windows:
        assert timedelta(0) <= hi - lo <= timedelta(days=63)
    assert windows[1][0] == windows[0][1] + ONE_SECOND


def test_exactly_63_days_is_one_window() -> None:
    start = NOW - timedelta(days=63)
    assert search_windows(start, NOW, now=NOW) == [(start, NOW)]


def test_730_days_back_is_allowed_and_split_into_twelve_windows() -> None:
    start = NOW - timedelta(days=730)
    windows = search_windows(start, NOW, now=NOW)
    assert len(windows) == 12  # ceil(730 / 63)
    assert all(b[0] - a[1] == ONE_SECOND for a, b in pairwise(windows))


def test_start_older_than_730_days_is_refused_not_silently_cut() -> None:
    with pytest.raises(InvalidRequest, match="730 days"):
        search_windows(NOW - timedelta(days=731), NOW, now=NOW)


def test_microseconds_are_dropped_because_rms_compares_whole_seconds() -> None:
    (window,) = search_windows(NOW.replace(microsecond=999), NOW.replace(microsecond=5), now=NOW)
    assert window == (NOW, NOW)


def test_naive_times_and_reversed_ranges_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="timezone"):
        search_windows(datetime(2024, 6, 1), NOW, now=NOW)
    with pytest.raises(InvalidRequest, match="before it starts"):
        search_windows(NOW, NOW - timedelta(days=1), now=NOW)


def test_halving_covers_the_window_exactly_and_stops_at_one_second() -> None:
    start = NOW - timedelta(days=10)
    (a_lo, a_hi), (b_lo, b_hi) = halve(start, NOW)
    assert (a_lo, b_hi) == (start, NOW) and b_lo == a_hi + ONE_SECOND
    assert halve(NOW, NOW + ONE_SECOND) == [(NOW, NOW), (NOW + ONE_SECOND, NOW + ONE_SECOND)]
    with pytest.raises(ValueError):
        halve(NOW, NOW)
