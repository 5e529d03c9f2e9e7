"""Real-HTTP cross-checks of Kura's RMS client against the RMS sandbox.

One sandbox (uvicorn on a free port, manual clock) serves the whole session: a seeded shop of 500
items and a 120-day order history that tests only read, plus fresh shops that tests create through
the admin endpoints when they change state. Faults, run-time settings and counters are put back
after every test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from kura.channels.rakuten.client import CallRecord, RmsClient, RmsSettings
from kura.ratelimit import DEFAULT_RATES, RateLimiter
from rms_sandbox.config import SandboxConfig
from rms_sandbox.testing import RunningSandbox, running_sandbox

START = "2025-06-02T10:00:00+09:00"
SEED_ITEMS = 500
SEED_ORDERS = 3000
FAULT_TIMEOUT_S = 1.0

# Settings the tests may change at run time, and the values every test starts from.
BASELINE_CONFIG: dict[str, Any] = {
    "rate_limits_enabled": False,
    "rate_limits": {},
    "search_result_cap": 15000,
    "fault_timeout_s": FAULT_TIMEOUT_S,
    "search_deleted_stub_s": 0,
}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(
        db_path=":memory:",
        clock="manual",
        clock_start=START,
        rate_limits_enabled=False,
        fault_timeout_s=FAULT_TIMEOUT_S,
    )
    with running_sandbox(config=config, seed=42, items=SEED_ITEMS, orders=SEED_ORDERS) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    """Every test starts without faults, with rate limits off and with zeroed counters."""
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**BASELINE_CONFIG)
    sandbox.admin.http.delete("/_sandbox/stats").raise_for_status()
    yield
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**BASELINE_CONFIG)


_shop_seeds = itertools.count(1000)


@pytest.fixture
def new_shop(sandbox: RunningSandbox) -> Callable[..., dict[str, Any]]:
    """A fresh seeded shop (its own credentials), for tests that change state."""

    def make(items: int = 20, orders: int = 0) -> dict[str, Any]:
        return sandbox.admin.create_shop(seed=next(_shop_seeds), items=items, orders=orders)

    return make


def fast_limiter() -> RateLimiter:
    """The real limiter with room for every test that is not about rate limits."""
    return RateLimiter("memory://", rates={name: "1000/second" for name in DEFAULT_RATES}, default="1000/second")


@dataclass
class Harness:
    """A real RmsClient plus the call log it produced."""

    client: RmsClient
    calls: list[CallRecord] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def calls_of(self, function: str) -> list[CallRecord]:
        return [c for c in self.calls if c.function == function]


ClientFactory = Callable[..., Harness]


@pytest.fixture
def client_for(sandbox: RunningSandbox) -> Iterator[ClientFactory]:
    """Builds RmsClients on the sandbox: `client_for(shop=None, limiter=None, settings=None, **kw)`."""
    made: list[RmsClient] = []
    keys = itertools.count(1)

    def make(
        shop: dict[str, Any] | None = None,
        *,
        limiter: RateLimiter | None = None,
        settings: RmsSettings | None = None,
        sleep: Callable[[float], None] | None = None,
        **kw: Any,
    ) -> Harness:
        import time

        shop = shop or sandbox.shop
        harness = Harness(client=None)  # type: ignore[arg-type]
        real_sleep = sleep or time.sleep

        def recording_sleep(seconds: float) -> None:
            harness.sleeps.append(seconds)
            real_sleep(seconds)

        kw.setdefault("backoff_base", 0.02)
        kw.setdefault("timeout", 10.0)
        harness.client = RmsClient(
            sandbox.base_url,
            shop["service_secret"],
            shop["license_key"],
            store_key=f"store-{next(keys)}",
            limiter=limiter or fast_limiter(),
            settings=settings,
            on_call=harness.calls.append,
            sleep=recording_sleep,
            **kw,
        )
        made.append(harness.client)
        return harness

    yield make
    for client in made:
        client.close()


def sandbox_now(sandbox: RunningSandbox) -> datetime:
    """The sandbox clock, to whole seconds."""
    return datetime.fromtimestamp(int(sandbox.admin.clock()["epoch"]), UTC)


def stats_for(sandbox: RunningSandbox, function: str) -> dict[str, Any]:
    """The sandbox's counters of one function summed over licence keys."""
    total: dict[str, Any] = {"requests": 0, "rate_limited": 0, "faults": 0, "statuses": {}}
    for row in sandbox.admin.stats():
        if row["function"] != function:
            continue
        total["requests"] += row["requests"]
        total["rate_limited"] += row["rate_limited"]
        total["faults"] += row["faults"]
        for status, n in row["statuses"].items():
            total["statuses"][status] = total["statuses"].get(status, 0) + n
    return total
