"""Distributed mode as real processes (PostgreSQL, Redis, `kura serve`, `kura worker`, `kura scheduler`), chosen by
KURA_* URLs alone: shops sync end to end, a worker SIGKILLed mid-import is taken over after its lease expires
and the import resumes from its saved cursor, and the rate limits hold across worker processes by the
sandbox's own counters."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from kura.db import Database
from kura.jobs.queue import enqueue
from kura.jobs.runs import JobRun, RunStatus
from kura.orders.models import Order
from kura.stores.models import Binding, BindingEntity, SyncLogEntry
from kura.stores.service import IMPORT_KIND
from tests.distributed.cluster import Cluster, Sandbox, connect_shops, free_port, rate_limit_report, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.distributed]

PG = tuple[str, Database]


def runs(db: Database, kind: str | None = None, store_id: int | None = None) -> list[JobRun]:
    with db.reader() as s:
        query = select(JobRun).order_by(JobRun.id)
        if kind:
            query = query.where(JobRun.kind == kind)
        if store_id is not None:
            query = query.where(JobRun.store_id == store_id)
        return list(s.scalars(query))


def kura_orders(db: Database, store_id: int) -> list[str]:
    with db.reader() as s:
        return list(s.scalars(select(Order.order_number).where(Order.store_id == store_id)))


def not_imported(db: Database, sandbox: Sandbox, shop: str, store_id: int) -> set[str]:
    """Every SKU of the shop on Rakuten is bound in Kura (once: bindings are unique), or was refused as a
    duplicate of another item's SKU and logged: what is neither (empty is good)."""
    on_rakuten = {f"{r['manageNumber']}/{r['variantId']}" for r in sandbox.stock(shop)}
    with db.reader() as s:
        bound = set(s.scalars(select(Binding.external_id).where(
            Binding.store_id == store_id, Binding.entity == BindingEntity.sku)))  # fmt: skip
        refused = {str(r.get("skipped")) for r in s.scalars(select(SyncLogEntry.request).where(
            SyncLogEntry.store_id == store_id, SyncLogEntry.kind == "products",
            SyncLogEntry.message.like("Duplicate SKU%"))) if isinstance(r, dict)}  # fmt: skip
    assert on_rakuten
    return on_rakuten - bound - refused


def import_done(db: Database, store_id: int) -> bool:
    return any(r.status == RunStatus.done for r in runs(db, IMPORT_KIND, store_id))


def test_serve_workers_and_two_schedulers_sync_shops_by_configuration_alone(
    kura_pg: PG, make_cluster: Callable[..., Cluster], make_sandbox: Callable[..., Sandbox]
) -> None:
    _, db = kura_pg
    sandbox = make_sandbox()
    shops = [sandbox.create_shop(seed=s, items=40) for s in (1, 2)]
    for shop in shops:  # buyers' orders of today: the history sync on connect must bring every one
        placed = [sandbox.place_order(shop["shop_url"]) for _ in range(12)]
        assert sum(1 for n in placed if n) >= 3
    cluster = make_cluster(KURA_DISPATCH_INTERVAL_S="1")
    port = free_port()
    cluster.web(port)
    cluster.worker(4)
    cluster.worker(4)
    cluster.scheduler()
    cluster.scheduler()  # a second one is harmless: every schedule row is claimed with a compare-and-set

    # One store connected through the CLI of a separate process (only the KURA_* variables tell it where to
    # go), the other through the service the web API uses.
    a = shops[0]
    connected = subprocess.run(
        [sys.executable, "-m", "kura.cli", "stores", "connect", "--name", "shop A", "--shop-url", a["shop_url"],
         "--license-key", a["license_key"], "--service-secret", a["service_secret"],
         "--api-base-url", sandbox.base_url],
        env=cluster.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert connected.returncode == 0, connected.stderr
    (b_id,) = connect_shops(db, cluster, sandbox, shops[1:])
    a_id = b_id - 1

    for store_id, shop in ((a_id, shops[0]), (b_id, shops[1])):
        wait_until(lambda sid=store_id: import_done(db, sid), 90, what=f"the product import of store {store_id}")
        expected = sorted(sandbox.order_numbers(shop["shop_url"]))
        wait_until(lambda sid=store_id, e=expected: sorted(kura_orders(db, sid)) == e, 90,
                   what=f"the {len(expected)} orders of store {store_id}")  # fmt: skip
        assert not_imported(db, sandbox, shop["shop_url"], store_id) == set()

    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
    assert ready["status"] == "ready"
    assert ready["checks"]["database"]["detail"] == "postgresql" and ready["checks"]["queue"]["detail"] == "redis"
    failed = [(r.kind, r.error) for r in runs(db) if r.status == RunStatus.failed]
    assert not failed
    assert all(p.poll() is None for p in cluster.processes), "a process died"


def test_a_worker_killed_mid_import_is_taken_over_after_its_lease_expires_and_resumes_from_the_cursor(
    kura_pg: PG, make_cluster: Callable[..., Cluster], make_sandbox: Callable[..., Sandbox]
) -> None:
    _, db = kura_pg
    items = 1500
    sandbox = make_sandbox()
    shop = sandbox.create_shop(seed=7, items=items)
    ttl = 6
    cluster = make_cluster(KURA_DISPATCH_INTERVAL_S="1", KURA_LEASE_TTL_S=str(ttl))
    doomed = cluster.worker(2, name="doomed")
    cluster.scheduler()
    (store_id,) = connect_shops(db, cluster, sandbox, [shop])

    first = wait_until(lambda: next((r for r in runs(db, IMPORT_KIND, store_id)
                                     if r.status == RunStatus.running and r.progress_done >= 300), None),
                       90, 0.05, "the import to get a few pages in")  # fmt: skip
    cluster.kill(doomed)
    killed_at = time.monotonic()
    assert first.progress_done < items, "the import finished before the kill; make it longer"
    cluster.worker(2, name="survivor")

    finished = wait_until(lambda: next((r for r in runs(db, IMPORT_KIND, store_id) if r.status == RunStatus.done),
                                       None), 120, what="another worker to finish the import")  # fmt: skip
    taken_over_after = time.monotonic() - killed_at
    dead = next(r for r in runs(db, IMPORT_KIND, store_id) if r.id == first.id)
    assert dead.status == RunStatus.failed and "abandoned" in (dead.error or "")
    assert finished.counts and finished.counts.get("resumed_from"), finished.counts
    # The resumed run imported only what was left, not the whole shop again.
    assert finished.counts["items"] <= items - first.progress_done + 200
    assert taken_over_after >= ttl * 0.5
    assert not_imported(db, sandbox, shop["shop_url"], store_id) == set()
    print(f"\nkilled at {first.progress_done}/{items} items; taken over and finished {taken_over_after:.1f} s later "
          f"(lease TTL {ttl} s); the resumed run imported {finished.counts['items']} items")


def test_rate_limits_hold_across_three_worker_processes_by_the_sandbox_counters(
    kura_pg: PG, make_cluster: Callable[..., Cluster], make_sandbox: Callable[..., Sandbox]
) -> None:
    _, db = kura_pg
    sandbox = make_sandbox()
    shop = sandbox.create_shop(seed=11, items=300, orders=40)
    cluster = make_cluster(KURA_DISPATCH_INTERVAL_S="1", KURA_LOG_LEVEL="INFO")
    workers = [cluster.worker(4, name=f"worker{i}") for i in range(3)]
    cluster.scheduler()
    (store_id,) = connect_shops(db, cluster, sandbox, [shop])
    huey = cluster.huey()
    # Every kind that calls RMS, kicked again and again: the lease lets one run per kind, but the kinds share
    # RMS functions (searchOrder/getOrder; inventories.bulk.get; bulk.upsert) and run on different workers.
    kinds = ["rakuten.orders.new", "rakuten.orders.status", "rakuten.stock.reconcile", "rakuten.stock.sync",
             IMPORT_KIND]  # fmt: skip
    started = time.monotonic()
    while time.monotonic() - started < 25:
        for kind in kinds:
            enqueue(huey, kind, store_id)
        time.sleep(0.5)
    wait_until(lambda: not [r for r in runs(db, store_id=store_id) if r.status == RunStatus.running], 120,
               what="the runs to finish")  # fmt: skip
    stats = [r for r in sandbox.stats() if r["license_key"] == shop["license_key"]]
    report = rate_limit_report(stats)
    busy = {r["function"]: r["requests"] for r in stats}
    executing = [sum(1 for line in (cluster.workdir / f"worker{i}.log").read_text().splitlines()
                     if "executed in" in line) for i in range(len(workers))]  # fmt: skip
    print(f"\nsandbox counters for the shop: {report}; per function: {busy}; jobs per worker: {executing}")
    throttled = {r["function"]: r["rate_limited"] for r in stats if r["rate_limited"]}
    one_per_second = {"rpay.order.searchOrder", "rpay.order.getOrder", "inventories.bulk.upsert"}
    assert not set(throttled) & one_per_second, throttled
    # Functions allowed N > 1 calls a second can still draw a rare 429: a slot is free again one window after
    # a call's answer, but N fresh slots may open while calls answered within the window already count at
    # RMS (see docs/operations.md, "Rate limits"). Bounded here; the fix is a limiter that scores each call
    # by its answer time.
    assert report["rate_limited"] <= max(1, report["requests"] // 100), throttled
    assert sum(1 for n in executing if n) >= 2, "the jobs did not spread over the workers"
    assert busy.get("rpay.order.getOrder", 0) + busy.get("rpay.order.searchOrder", 0) >= 10
    failed = [(r.kind, (r.error or "")[:300], (r.error or "")[-300:]) for r in runs(db) if r.status == RunStatus.failed]
    assert not failed
