"""Rate limiting of outgoing RMS calls per (store, RMS function), in one process or across many."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Rakuten's per-function limits (reference §2.1, §3.1, §8). All are third-party figures [T] or
# unknown [U]: the Order API has no published figure, so it gets the "≤1 req/s" guidance.
DEFAULT_RATES: dict[str, str] = {
    "items.get": "5/second",
    "items.upsert": "20/second",
    "items.patch": "20/second",
    "items.delete": "5/second",
    "items.search": "5/second",
    "items.bulk.get": "1/second",
    "inventories.variants.get": "1/second",
    "inventories.variants.upsert": "1/second",
    "inventories.variants.delete": "1/second",
    "inventories.bulk.get": "5/second",
    "inventories.bulk.upsert": "1/second",
}
DEFAULT_RATE = "1/second"
"""Every function without an entry above (all of `rpay.order.*`, `license.expiryDate.get`)."""

_NAMESPACE = "kura-rms"
_DONE = "kura-rms-done"

DEFAULT_MARGIN = 0.05
"""Seconds added to every wait for a slot. The window is measured here, when a call is about to be
sent, but RMS counts calls when they arrive; how it counts is not documented (reference §8, [U]).
Without a margin, a call that reaches RMS a few milliseconds sooner than the one it waited for lands
inside the same one-second window and draws a 429: the RMS sandbox, which enforces the same figures
over a rolling window, showed exactly that with a 2 ms margin."""


def parse_rates(text: str) -> dict[str, str]:
    """KURA_RMS_RATES: per-function rates that replace the defaults above, `function=rate` entries separated
    by commas or semicolons ("items.search=5/second, inventories.bulk.upsert=1/second"); `default=` replaces
    DEFAULT_RATE, the rate of the functions without an entry in DEFAULT_RATES. Rakuten's figures are
    unconfirmed [T]: a shop that finds other limits sets them here without a release. Raises ValueError naming
    the entry to fix."""
    rates: dict[str, str] = {}
    for entry in re.split(r"[,;]", text):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, rate = (part.strip() for part in entry.partition("="))
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", name) or not rate:
            raise ValueError(f"KURA_RMS_RATES entry {entry!r}: write function=rate, e.g. items.search=5/second")
        try:
            item = parse(rate)
        except ValueError:
            raise ValueError(f"KURA_RMS_RATES entry {entry!r}: {rate!r} is not a rate; write e.g. 5/second or "
                             "100/minute") from None  # fmt: skip
        if item.amount < 1:
            raise ValueError(f"KURA_RMS_RATES entry {entry!r}: a rate allows at least 1 call; 0 would stop the "
                             "function for good")  # fmt: skip
        rates[name] = rate
    return rates


class RateLimitTimeout(TimeoutError):
    """Waiting for a free slot would take longer than the caller allowed; try again later."""


class RateLimiter:
    """Blocks each caller until its (store, function) has room in a moving window.

    `memory://` is exact inside one process (the embedded mode); `redis://host:port` is exact across
    processes and machines. Thread-safe: `limits` locks per key in memory and uses Lua scripts in Redis.
    """

    def __init__(
        self,
        storage_url: str = "memory://",
        rates: Mapping[str, str] | None = None,
        default: str = DEFAULT_RATE,
        *,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        merged = {**DEFAULT_RATES, **(rates or {})}
        self._items: dict[str, RateLimitItem] = {name: parse(rate) for name, rate in merged.items()}
        self._default = parse(default)
        self._storage = storage_from_string(storage_url)
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._sleep = sleep
        self._margin = margin
        # Printable form without the password a redis:// URL may carry.
        self.storage_url = re.sub(r"//[^@/]*@", "//***@", storage_url)

    def __repr__(self) -> str:
        return f"RateLimiter({self.storage_url!r})"

    def rate_for(self, function: str) -> RateLimitItem:
        return self._items.get(function, self._default)

    def try_acquire(self, store_key: str, function: str) -> bool:
        """Takes a slot if one is free now; never waits."""
        item = self.rate_for(function)
        return self._strategy.test(item, _DONE, store_key, function) and self._strategy.hit(
            item, _NAMESPACE, store_key, function
        )

    def done(self, store_key: str, function: str) -> None:
        """Records that a call has been answered (or has failed): RMS counted it at some moment before now.

        A call is counted by RMS when it arrives, somewhere between the moment it took its slot and the
        moment its answer came back. Under load that delay varies by more than any fixed margin (a busy
        server queues one request and not the next), so a slot also waits until the window holds fewer
        than `limit` answered calls: the next call then cannot arrive within the window of one it follows.
        Across worker processes this showed 429s with the sending time alone and none with both."""
        self._strategy.hit(self.rate_for(function), _DONE, store_key, function)

    def acquire(self, store_key: str, function: str, timeout: float | None = None) -> float:
        """Takes a slot, sleeping until the window allows one; returns the seconds waited.

        Raises RateLimitTimeout when the next slot is further away than `timeout` seconds.
        """
        item = self.rate_for(function)
        started = time.monotonic()
        while True:
            namespace = _DONE
            if self._strategy.test(item, _DONE, store_key, function):
                if self._strategy.hit(item, _NAMESPACE, store_key, function):
                    break
                namespace = _NAMESPACE
            stats = self._strategy.get_window_stats(item, namespace, store_key, function)
            # reset_time is when the oldest hit in the window leaves it; the margin covers the
            # difference between when calls leave here and when RMS counts them.
            delay = max(stats.reset_time - time.time(), 0.0) + self._margin
            waited = time.monotonic() - started
            if timeout is not None and waited + delay > timeout:
                raise RateLimitTimeout(
                    f"No free RMS call slot for {function} of store {store_key} within {timeout:.1f} s "
                    f"(limit {item}); the job should run again later."
                )
            self._sleep(delay)
        return time.monotonic() - started

    def reset(self, store_key: str, function: str) -> None:
        """Forgets the hits of one (store, function); for tests and admin tools."""
        self._strategy.clear(self.rate_for(function), _NAMESPACE, store_key, function)
        self._strategy.clear(self.rate_for(function), _DONE, store_key, function)
