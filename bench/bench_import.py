"""Product import from the RMS sandbox: SKUs/s with the sandbox's default rate limits and with limits off, against
the seed's "1,000 SKUs every 15 minutes" and against the bound the rate limits allow; peak RSS for 50,000 SKUs.

The sandbox runs in its own process (python -m rms_sandbox), each import in a fresh child process on its own
SQLite file, so that the peak RSS measured is the importer's alone.

Usage: python bench/bench_import.py [--skus 10000] [--memory-skus 50000] [--child ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_RATE = 1000 / (15 * 60)  # the seed: 1,000 SKUs every 15 minutes
GOAL_SHARE = 0.90
MEMORY_GOAL_MB = 300


def rate_bound(skus_per_item: float) -> dict[str, float]:
    """SKUs/s each stage allows under the sandbox's default limits; the import can go no faster than the slowest."""
    from kura.channels.rakuten.client import RmsSettings
    from rms_sandbox.config import DEFAULT_RATE_LIMITS

    s = RmsSettings()
    search = DEFAULT_RATE_LIMITS["items.search"] * s.items_search_hits * skus_per_item
    stock = DEFAULT_RATE_LIMITS["inventories.bulk.get"] * s.inventory_bulk_get_max
    return {"items.search": search, "inventories.bulk.get": stock, "bound": min(search, stock)}


# ---------------------------------------------------------------- child: one import, measured


def child(args: argparse.Namespace) -> None:
    from kura.channels.rakuten.products import SyncRequest, import_products
    from kura.db import Database
    from kura.jobs.runs import run_job
    from kura.migrate import upgrade
    from kura.ratelimit import DEFAULT_RATES, RateLimiter
    from kura.stores.service import client_for, connect_rakuten, get_store

    url = f"sqlite:///{args.kura_db}"
    upgrade(url)
    db = Database(url)
    limiter = RateLimiter() if args.limits else RateLimiter(
        rates={name: "100000/second" for name in DEFAULT_RATES}, default="100000/second")
    connected = connect_rakuten(db, name="bench", shop_url=args.shop_url, license_key=args.license_key,
                                service_secret=args.service_secret, api_base_url=args.base_url,
                                import_products=False, limiter=limiter)  # fmt: skip
    with db.reader() as s:
        store = get_store(s, connected.store_id)
        s.expunge(store)

    def fn(store_id: int | None, progress: Any) -> Any:
        assert store_id is not None
        with client_for(store, db, limiter=limiter) as client:
            return import_products(db, store_id, progress, request=SyncRequest(), client=client)

    started = time.perf_counter()
    run = run_job(db, SyncRequest().kind, connected.store_id, fn, lease_ttl_s=600)
    seconds = time.perf_counter() - started
    from sqlalchemy import func, select

    from kura.catalog.models import Sku
    from kura.stores.models import SyncLogEntry

    with db.reader() as s:
        skus = s.scalar(select(func.count(Sku.id))) or 0
        # How long RMS (the sandbox) took to answer: cursor pages are fetched one after another, so a search
        # slower than 1 / (5 per second) caps the import below the rate-limit bound whatever Kura does.
        calls = {fn: {"calls": n, "avg_ms": float(avg or 0)} for fn, n, avg in s.execute(
            select(SyncLogEntry.function, func.count(SyncLogEntry.id), func.avg(SyncLogEntry.duration_ms))
            .where(SyncLogEntry.kind == "call").group_by(SyncLogEntry.function))}  # fmt: skip
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": run.status.value, "error": run.error, "seconds": seconds, "skus": skus,
                      "counts": run.counts, "peak_rss_mb": peak_kb / 1024, "calls": calls}))  # fmt: skip


# ---------------------------------------------------------------- parent


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    from rms_sandbox.testing import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rms_sandbox", "--db", str(workdir / "sandbox.db"), "--port", str(port),
         "--no-seed", "--clock", "manual", "--order-rate", "0", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/_sandbox/shops", timeout=1).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the sandbox did not start")


def shop_with(base: str, skus: int, seed: int) -> dict[str, Any]:
    """A seeded shop with at least `skus` SKUs (the seed averages about 3 SKUs per item)."""
    admin = httpx.Client(base_url=base, timeout=600)
    items = max(10, int(skus / 2.9))
    shop = admin.post("/_sandbox/shops", json={"seed": seed, "items": items, "orders": 0}).json()
    return shop


def count_skus(base: str, shop: dict[str, Any]) -> tuple[int, int]:
    stock = httpx.get(f"{base}/_sandbox/shops/{shop['shop_url']}/stock", timeout=600).json()["stock"]
    return len(stock), len({r["manageNumber"] for r in stock})


def run_child(base: str, shop: dict[str, Any], limits: bool, workdir: Path, label: str) -> dict[str, Any]:
    kura_db = workdir / f"kura-{label}.db"
    cmd = [sys.executable, __file__, "--child", "--base-url", base, "--shop-url", shop["shop_url"],
           "--license-key", shop["license_key"], "--service-secret", shop["service_secret"],
           "--kura-db", str(kura_db)] + (["--limits"] if limits else [])  # fmt: skip
    env = {**os.environ, "KURA_VAR_DIR": str(workdir / "var"), "KURA_LOG_LEVEL": "WARNING"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"import child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=10000)
    parser.add_argument("--memory-skus", type=int, default=50000)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--limits", action="store_true")
    for name in ("--base-url", "--shop-url", "--license-key", "--service-secret", "--kura-db"):
        parser.add_argument(name)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="kura-bench-import-") as tmp:
        workdir = Path(tmp)
        proc, base = start_sandbox(workdir)
        admin = httpx.Client(base_url=base, timeout=600)
        try:
            shop = shop_with(base, args.skus, seed=7)
            skus, items = count_skus(base, shop)
            ratio = skus / items
            bound = rate_bound(ratio)
            print(f"shop: {items} items, {skus} SKUs ({ratio:.2f} SKUs/item)")
            print(f"rate-limit bound: items.search 5/s x 100 items x {ratio:.2f} = {bound['items.search']:.0f} SKUs/s; "
                  f"inventories.bulk.get 5/s x 1000 = {bound['inventories.bulk.get']:.0f} SKUs/s; "
                  f"bound = {bound['bound']:.0f} SKUs/s (the slowest stage)")
            print(f"seed's pace: 1,000 SKUs / 15 min = {SEED_RATE:.2f} SKUs/s")
            results = {}
            for label, limits in (("default rate limits", True), ("limits off", False)):
                admin.put("/_sandbox/config", json={"rate_limits_enabled": limits}).raise_for_status()
                r = run_child(base, shop, limits, workdir, label.replace(" ", "-"))
                rate = r["skus"] / r["seconds"]
                results[label] = r
                share = f", {rate / bound['bound']:.0%} of the bound (goal >= {GOAL_SHARE:.0%})" if limits else ""
                print(f"{label}: {r['skus']} SKUs in {r['seconds']:.1f} s = {rate:.0f} SKUs/s "
                      f"= {rate / SEED_RATE:.0f}x the seed's pace{share}; peak RSS {r['peak_rss_mb']:.0f} MB; "
                      f"status {r['status']}")
                print(f"  ({r['skus']} distinct SKUs of {skus} variants: {skus - r['skus']} duplicates reported; "
                      f"counts {r['counts']})")
                answered = ", ".join(f"{fn} {c['calls']} calls, avg {c['avg_ms']:.0f} ms"
                                     for fn, c in sorted(r.get("calls", {}).items()) if fn)  # fmt: skip
                print(f"  RMS answer times: {answered}")
            if args.memory_skus:
                big = shop_with(base, args.memory_skus, seed=8)
                big_skus, big_items = count_skus(base, big)
                admin.put("/_sandbox/config", json={"rate_limits_enabled": False}).raise_for_status()
                r = run_child(base, big, False, workdir, "memory")
                print(f"memory: {big_skus} SKUs ({big_items} items) imported in {r['seconds']:.1f} s "
                      f"({r['skus'] / r['seconds']:.0f} SKUs/s, limits off); peak RSS {r['peak_rss_mb']:.0f} MB "
                      f"(goal < {MEMORY_GOAL_MB} MB)")
        finally:
            admin.close()
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
