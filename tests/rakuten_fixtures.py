"""Helpers shared by the suites that talk to an RMS sandbox over real HTTP (listing, stock sync); their
fixtures `sandbox` and `throwaway_queue` are in tests/conftest.py."""

from __future__ import annotations

from kura.ratelimit import DEFAULT_RATES, RateLimiter


def unthrottled() -> RateLimiter:
    """A limiter that never waits (the shared sandbox runs without rate limits)."""
    return RateLimiter(rates=dict.fromkeys(DEFAULT_RATES, "1000/second"), default="1000/second", margin=0)
