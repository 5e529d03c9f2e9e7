"""The marketplace clock: real time (optionally shifted) or a manual clock that only tests move."""

from __future__ import annotations

import threading
import time
from typing import Literal

from rms_sandbox.store import Store


class Clock:
    """Sandbox time in epoch seconds. `advance` shifts a real clock and moves a manual one."""

    def __init__(self, store: Store, mode: Literal["real", "manual"], start: float | None = None) -> None:
        self.mode = mode
        self._store = store
        self._lock = threading.Lock()
        saved = store.get_meta("clock")
        if saved and saved.get("mode") == mode:
            self._offset = float(saved.get("offset", 0.0))
            self._manual = float(saved.get("manual", start or time.time()))
        else:
            self._offset = 0.0
            self._manual = start if start is not None else float(int(time.time()))
            self._save()

    def now(self) -> float:
        if self.mode == "manual":
            return self._manual
        return time.time() + self._offset

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
