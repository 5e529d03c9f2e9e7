"""Benchmark of the order sync against the RMS sandbox, rate limits ON (Order API 1 req/s per function).

(a) backfill: Sync Orders over a shop with N orders (default 20,000, all in the last 120 days), timed against
    the bound the limits allow: (searchOrder pages + getOrder batches) calls at 1 req/s. Goal ≤ 1.2 × bound.
(b) new-order latency: the sandbox's buyers place ~1 order/s on a real clock; Kura's job layer (embedded
    Huey consumer + dispatcher) polls new orders every 30 s; p50/p95 of placement → visible in Kura.
    Goal p95 ≤ 45 s.

The sandbox runs in its own process (as `python -m rms_sandbox`), Kura on a SQLite file.
Run: python bench/bench_orders.py [--orders 20000] [--latency-seconds 180] [--skip-backfill] [--skip-latency]"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kura.channels.rakuten import orders as ordersync  # noqa: E402
from kura.channels.rakuten.client import OrderQuery  # noqa: E402
from kura.db import Database, utcnow  # noqa: E402
from kura.jobs import registry  # noqa: E402
from kura.migrate import upgrade  # noqa: E402
from kura.orders.models import Order  # noqa: E402
from kura.ratelimit import RateLimiter  # noqa: E402
from kura.stores.service import client_for, connect_rakuten, get_store  # noqa: E402

ORDER_RATE = 1.0  # req/s per Order API function (the sandbox's default, the reference's guidance)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(port: int, db: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "rms_sandbox",
        "--port",
        str(port),
        "--db",
        db,
        "--no-seed",
        "--log-level",
        "warning",
        *extra,
    ]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/clock", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def kura_db(tmp: Path, name: str) -> Database:
    url = f"sqlite:///{tmp / name}"
    upgrade(url)
    db = Database(url)
    registry.bind_database(db)
    return db


def connect(db: Database, base: str, shop: dict[str, Any], limiter: RateLimiter) -> int:
    store_id = connect_rakuten(
        db,
        name=f"bench {shop['shop_url']}",
        shop_url=shop["shop_url"],
        license_key=shop["license_key"],
        service_secret=shop["service_secret"],
        api_base_url=base,
        import_products=False,
        limiter=limiter,
    ).store_id

    def factory(database: Database, sid: int, run_id: int | None) -> Any:
        with database.reader() as s:
            store = get_store(s, sid)
            s.expunge(store)
        return client_for(store, database, run_id=run_id, limiter=limiter)

    ordersync.client_factory = factory
    return store_id


def backfill(tmp: Path, orders: int) -> dict[str, Any]:
    port = free_port()
    sandbox = start_sandbox(port, str(tmp / "rms-a.db"), "--clock", "manual")
    base = f"http://127.0.0.1:{port}"
    try:
        admin = httpx.Client(base_url=base, timeout=600)
        t = time.monotonic()
        shop = admin.post("/_sandbox/shops", json={"seed": 7, "items": 500, "orders": orders}).raise_for_status().json()
        print(f"(a) seeded a shop with {orders} orders in {time.monotonic() - t:.1f} s")
        db = kura_db(tmp, "kura-a.db")
        limiter = RateLimiter("memory://")
        store_id = connect(db, base, shop, limiter)
        with db.transaction() as s:
            ordersync.update_order_settings(s, store_id, {"history_days": 121})
        # The bound: the calls the limits allow, counted with the client's own paging (not timed: a
        # separate limiter, and searchOrder's limit is its own).
        now = utcnow()
        with ordersync.client_factory(db, store_id, None) as client:
            windows = [(a, b) for a, b in _windows(now - dt.timedelta(days=121), now)]
            pages = 0
            found = 0
            for a, b in windows:
                first = client.search_orders(OrderQuery(1, a, b))
                pages += max(first.total_pages, 1)
                found += first.total_records
        batches = math.ceil(found / 100)
        bound_seq = (pages + batches) / ORDER_RATE
        bound_par = max(pages, batches) / ORDER_RATE
        print(
            f"(a) {found} orders in {len(windows)} search windows: {pages} searchOrder pages + {batches} getOrder "
            f"batches → bound {bound_seq:.0f} s at {ORDER_RATE:g} req/s (sequential; {bound_par:.0f} s if the "
            "two functions' limits are separate and the calls overlap)"
        )
        time.sleep(1.1)
        t = time.monotonic()
        run = ordersync.sync_now(db, store_id, now - dt.timedelta(days=121), now)
        elapsed = time.monotonic() - t
        with db.reader() as s:
            from sqlalchemy import func, select

            imported = s.scalar(select(func.count(Order.id)).where(Order.store_id == store_id)) or 0
        stats = admin.get("/_sandbox/stats").json()["stats"]
        limited = sum(int(r.get("rate_limited", 0)) for r in stats if r.get("license_key") == shop["license_key"])
        ratio = elapsed / bound_seq
        print(
            f"(a) backfill: {imported} orders in {elapsed:.1f} s ({imported / elapsed:.0f} orders/s), run "
            f"{run.status}, counts {run.counts}; {limited} calls rate-limited by RMS"
        )
        print(
            f"(a) {elapsed:.1f} s / bound {bound_seq:.0f} s = {ratio:.2f}× (goal ≤ 1.2×) → "
            f"{'MET' if ratio <= 1.2 else 'NOT MET'}; load average {_load()} on {os.cpu_count()} CPUs "
            "(other work on the machine slows the writer)"
        )
        db.dispose()
        return {"elapsed": elapsed, "bound": bound_seq, "ratio": ratio, "imported": imported}
    finally:
        sandbox.terminate()
        sandbox.wait(10)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _windows(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    from kura.channels.rakuten.windows import search_windows

    return search_windows(start, end, now=end)


def latency(tmp: Path, seconds: float, poll_s: int) -> dict[str, Any]:
    from kura.jobs.queue import EmbeddedJobs, make_huey

    port = free_port()
    sandbox = start_sandbox(port, str(tmp / "rms-b.db"), "--clock", "real", "--order-rate", "3600")
    base = f"http://127.0.0.1:{port}"
    jobs = None
    try:
        admin = httpx.Client(base_url=base, timeout=60)
        shop = admin.post("/_sandbox/shops", json={"seed": 8, "items": 500, "orders": 0}).raise_for_status().json()
        db = kura_db(tmp, "kura-b.db")
        limiter = RateLimiter("memory://")
        store_id = connect(db, base, shop, limiter)
        with db.transaction() as s:
            ordersync.update_order_settings(s, store_id, {"history_days": 1, "new_orders_interval_s": poll_s})
        ordersync.start_order_sync(db, store_id)
        jobs = EmbeddedJobs(make_huey(f"sqlite:///{tmp / 'queue.db'}"), db, workers=2, dispatch_interval_s=1.0)
        jobs.start()
        started = utcnow()
        print(f"(b) buyers place ~1 order/s; Kura polls every {poll_s} s; running {seconds:.0f} s ...")
        time.sleep(seconds)
        placed_until = utcnow()
        time.sleep(poll_s + 10)  # the last orders' poll
        with db.reader() as s:
            from sqlalchemy import select

            rows = s.execute(
                select(Order.ordered_at, Order.created_at).where(
                    Order.store_id == store_id, Order.ordered_at >= started, Order.ordered_at <= placed_until
                )
            ).all()
        shop_view = admin.get(f"/_sandbox/shops/{shop['shop_id']}").json()
        latencies = sorted((c - o).total_seconds() for o, c in rows)
        if len(latencies) < 2:
            print("(b) too few orders seen")
            return {}
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
        print(
            f"(b) {len(latencies)} orders placed in {seconds:.0f} s were seen (sandbox holds "
            f"{shop_view.get('orders')} in total); latency placement → Kura: p50 {p50:.1f} s, p95 {p95:.1f} s, "
            f"max {latencies[-1]:.1f} s (goal p95 ≤ 45 s) → {'MET' if p95 <= 45 else 'NOT MET'}"
        )
        return {"p50": p50, "p95": p95, "n": len(latencies)}
    finally:
        if jobs is not None:
            jobs.stop()
        sandbox.terminate()
        sandbox.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=180.0)
    parser.add_argument("--poll-seconds", type=int, default=30)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("KURA_SECRET_KEY_FILE", str(Path(tmp) / "secret.key"))
        if not args.skip_backfill:
            backfill(Path(tmp), args.orders)
        if not args.skip_latency:
            latency(Path(tmp), args.latency_seconds, args.poll_seconds)


if __name__ == "__main__":
    main()
