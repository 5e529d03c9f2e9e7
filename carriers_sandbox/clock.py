"""The sandbox clock: real time (optionally shifted) or a manual clock that only tests move."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Literal

from carriers_sandbox.store import Store

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def iso_jst(ts: float) -> str:
    """Epoch seconds as ISO 8601 in Japan time, as carriers show event times."""
    return dt.datetime.fromtimestamp(ts, JST).isoformat(timespec="seconds")


def parse_ts(value: str | float | int) -> float:
    """Epoch seconds from a number or an ISO 8601 string (naive strings are read as JST)."""
    if isinstance(value, int | float):
        return float(value)
    parsed = dt.datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)).timestamp()


class Clock:
    """Sandbox time in epoch seconds. `advance` shifts a real clock and moves a manual one."""

    def __init__(self, store: Store, mode: Literal["real", "manual"], start: float | None = None) -> None:
        self.mode = mode
        self._store = store
        self._lock = threading.Lock()
        saved = store.get_meta("clock")
        if saved and saved.get("mode") == mode:
            self._offset = float(saved["offset"])
            self._manual = float(saved["manual"])
        else:
            self._offset = 0.0
            self._manual = start if start is not None else float(int(time.time()))
            self._save()

    def now(self) -> float:
        return self._manual if self.mode == "manual" else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self.mode == "manual":
                self._manual += seconds
            else:
                self._offset += seconds
            self._save()
        return self.now()

    def set(self, ts: float) -> float:
        with self._lock:
            if self.mode == "manual":
                self._manual = ts
            else:
                self._offset = ts - time.time()
            self._save()
        return self.now()

    def _save(self) -> None:
        self._store.set_meta("clock", {"mode": self.mode, "offset": self._offset, "manual": self._manual})
