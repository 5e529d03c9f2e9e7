"""Per-request gatekeeping: rate limits per (licence key, function), injected faults, and counters."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from rms_sandbox.config import SandboxConfig


class RateLimiter:
    """At most `rate × window` calls per (licence key, function) in any rolling window of wall time.

    Wall time, not the sandbox clock: a manual clock must not freeze or release the limits."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, license_key: str, function: str) -> bool:
        if not self.config.rate_limits_enabled:
            return True
        rate = self.config.rate_for(function)
        if rate is None or rate <= 0:
            return True
        window = self.config.rate_limit_window_s
        limit = max(1, int(rate * window))
        now = time.monotonic()
        with self._lock:
            calls = self._calls[(license_key, function)]
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                return False
            calls.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class FaultSpec:
    """Faults of one function ("*" = every function). Shares are probabilities per request."""

    error_5xx: float = 0.0
    error_429: float = 0.0
    slow_ms: int = 0
    timeout: float = 0.0
    maintenance: bool = False
    # Optional maintenance window on the sandbox clock (epoch seconds); both set = 503 inside it.
    maintenance_start: float | None = None
    maintenance_end: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultDecision:
    status: int | None = None  # answer this status instead of handling
    delay_s: float = 0.0  # wait before answering


class Faults:
    """Fault switches per function, changeable while the sandbox runs."""

    def __init__(self, seed: int = 0) -> None:
        self.specs: dict[str, FaultSpec] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def set(self, function: str, spec: FaultSpec) -> None:
        with self._lock:
            self.specs[function] = spec

    def clear(self, function: str | None = None) -> None:
        with self._lock:
            if function is None:
                self.specs.clear()
            else:
                self.specs.pop(function, None)

    def decide(self, function: str, now: float, timeout_s: float) -> FaultDecision | None:
        if not self.specs:
            return None
        spec = self.specs.get(function) or self.specs.get("*")
        if spec is None:
            return None
        if spec.maintenance or (
            spec.maintenance_start is not None
            and spec.maintenance_end is not None
            and spec.maintenance_start <= now < spec.maintenance_end
        ):
            return FaultDecision(status=503)
        with self._lock:
            roll = self._random.random()
        decision = FaultDecision(delay_s=spec.slow_ms / 1000.0)
        if roll < spec.timeout:
            decision.status, decision.delay_s = 504, timeout_s
        elif roll < spec.timeout + spec.error_429:
            decision.status = 429
        elif roll < spec.timeout + spec.error_429 + spec.error_5xx:
            decision.status = 500
        return decision


@dataclass
class Counter:
    requests: int = 0
    rate_limited: int = 0
    faults: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


class Stats:
    """Request counters per (licence key, function), including 429s from the rate limiter."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self._lock = threading.Lock()

    def record(self, license_key: str, function: str, status: int, *, rate_limited: bool = False,
               fault: bool = False) -> None:
        with self._lock:
            counter = self._counters[(license_key, function)]
            counter.requests += 1
            counter.rate_limited += int(rate_limited)
            counter.faults += int(fault)
            key = str(status)
            counter.statuses[key] = counter.statuses.get(key, 0) + 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"license_key": key, "function": function, "requests": c.requests,
                 "rate_limited": c.rate_limited, "faults": c.faults, "statuses": dict(c.statuses)}
                for (key, function), c in sorted(self._counters.items())
            ]

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
