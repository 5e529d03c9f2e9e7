"""RateLimiter: blocking moving windows per (store, function), in memory and in Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from kura.ratelimit import DEFAULT_MARGIN, DEFAULT_RATE, DEFAULT_RATES, RateLimiter, RateLimitTimeout

REDIS_URL = os.environ.get("KURA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def acquire_in_threads(limiters: list[RateLimiter], store: str, function: str, calls: int, threads: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        limiter = limiters[index % len(limiters)]
        for _ in range(calls):
            limiter.acquire(store, function, timeout=30)
            with lock:
                stamps.append(time.time())

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(stamps)


def assert_at_most_per_second(stamps: list[float], amount: int) -> None:
    """No `amount + 1` hits fit in any one-second window."""
    for first, later in zip(stamps, stamps[amount:], strict=False):
        assert later - first >= 0.99, (first, later)


def test_reference_rates_are_the_defaults_and_can_be_overridden() -> None:
    limiter = RateLimiter("memory://", {"items.get": "2/second"})
    assert str(limiter.rate_for("items.upsert")) == str(RateLimiter("memory://").rate_for("items.upsert"))
    assert limiter.rate_for("items.get").amount == 2
    assert limiter.rate_for("rpay.order.searchOrder").amount == 1  # Order API: ≤1 req/s guidance
    assert DEFAULT_RATES["items.upsert"] == "20/second" and DEFAULT_RATES["inventories.bulk.upsert"] == "1/second"
    assert DEFAULT_RATE == "1/second"


def test_memory_limiter_spaces_calls_from_many_threads() -> None:
    limiter = RateLimiter("memory://", {"items.search": "5/second"})
    started = time.monotonic()
    stamps = acquire_in_threads([limiter], "shop-1", "items.search", calls=3, threads=4)
    assert len(stamps) == 12
    assert_at_most_per_second(stamps, 5)
    assert time.monotonic() - started >= 1.9  # 12 calls at 5/s need two full waits


def test_stores_and_functions_have_separate_budgets() -> None:
    limiter = RateLimiter("memory://")
    assert limiter.try_acquire("shop-1", "rpay.order.getOrder")
    assert not limiter.try_acquire("shop-1", "rpay.order.getOrder")
    assert limiter.try_acquire("shop-2", "rpay.order.getOrder")
    assert limiter.try_acquire("shop-1", "rpay.order.searchOrder")


def test_acquire_gives_up_with_a_clear_error_when_the_wait_exceeds_the_timeout() -> None:
    limiter = RateLimiter("memory://")
    limiter.acquire("shop-1", "rpay.order.getOrder")
    with pytest.raises(RateLimitTimeout, match=r"rpay\.order\.getOrder of store shop-1"):
        limiter.acquire("shop-1", "rpay.order.getOrder", timeout=0.1)


def test_acquire_sleeps_until_the_window_frees_a_slot() -> None:
    sleeps: list[float] = []
    limiter = RateLimiter("memory://", sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    limiter.acquire("shop-1", "x")
    waited = limiter.acquire("shop-1", "x")
    assert 0.9 <= waited <= 1.5
    assert sleeps and sleeps[0] <= 1.01 + DEFAULT_MARGIN


def test_storage_password_is_not_printed() -> None:
    limiter = RateLimiter(REDIS_URL.replace("redis://", "redis://:hunter2@"))
    assert "hunter2" not in repr(limiter) and "127.0.0.1:6379" in repr(limiter)


def _redis_or_skip() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}: {exc}); distributed limiter untested")


@pytest.mark.redis
def test_redis_limiter_spaces_calls_across_separate_limiter_instances() -> None:
    _redis_or_skip()
    store = f"shop-{uuid.uuid4().hex[:8]}"
    # Two instances stand for two worker processes sharing one Redis.
    limiters = [RateLimiter(REDIS_URL, {"rpay.order.getOrder": "2/second"}) for _ in range(2)]
    started = time.monotonic()
    stamps = acquire_in_threads(limiters, store, "rpay.order.getOrder", calls=3, threads=2)
    assert len(stamps) == 6
    assert_at_most_per_second(stamps, 2)
    assert time.monotonic() - started >= 1.9
    limiters[0].reset(store, "rpay.order.getOrder")


def test_rms_rates_replace_the_defaults_of_the_processs_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rakuten's rates are unconfirmed figures: KURA_RMS_RATES changes them without a release."""
    from limits import parse

    from kura.config import get_settings
    from kura.stores.service import _limiter, process_limiter

    monkeypatch.setenv("KURA_RMS_RATES", "items.search=2/second; rpay.order.searchOrder=3/minute, default=4/second")
    get_settings.cache_clear()
    _limiter.cache_clear()
    try:
        limiter = process_limiter()
        assert limiter.rate_for("items.search") == parse("2/second")
        assert limiter.rate_for("rpay.order.searchOrder") == parse("3/minute")
        assert limiter.rate_for("license.expiryDate.get") == parse("4/second")  # no entry of its own: default=
        assert limiter.rate_for("inventories.bulk.upsert") == parse(DEFAULT_RATES["inventories.bulk.upsert"])
        store = f"rates-{uuid.uuid4().hex[:8]}"
        taken = [limiter.try_acquire(store, "items.search") for _ in range(3)]
        assert taken == [True, True, False], "two calls a second, not the default five"
    finally:
        get_settings.cache_clear()
        _limiter.cache_clear()


@pytest.mark.parametrize(
    ("text", "named"),
    [("items.search", "'items.search'"), ("items.search=fast", "'fast' is not a rate"),
     ("=5/second", "'=5/second'"), ("items search=5/second", "'items search=5/second'"),
     ("items.search=0/second", "at least 1 call")],
)  # fmt: skip
def test_a_wrong_rms_rate_entry_is_named(text: str, named: str) -> None:
    from kura.ratelimit import parse_rates

    with pytest.raises(ValueError, match=named):
        parse_rates(text)
    assert parse_rates(" items.search = 5/second ;; ") == {"items.search": "5/second"}
