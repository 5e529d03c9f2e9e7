"""Benchmark of the stock push against the RMS sandbox with its default rate limits (bulk.upsert 1 req/s).

(a) latency from a committed stock change to the sandbox writing a quantity that reflects it, p50/p95/p99:
    single changes, and bursts of 1,000 changes/s as they arrive in practice — many changes per transaction
    (a goods receipt, a stock count, an Excel upload): by default 20 transactions/s × 50 changes of random SKUs
    among 300 listed ones, for 15 s, each transaction one stock batch (`apply_lines`, as a goods receipt or a stock
    count sheet arrives; --burst-per-change: one receive()/adjust() call per change) → the outbox.
    Per change: the first bulk.upsert whose quantities were read after the change's commit carries it; its time
    is the sandbox's own write time, and Kura's record of the pushes is checked against the sandbox's writes
    log (same calls, same quantities) and the final quantities. Singles are also timed by polling the
    sandbox's stock endpoint. Kura runs embedded (Huey consumer threads + dispatcher in this process).
    Goal p99 ≤ 2 s; coalescing is what makes it possible at 1 upsert/s: while ≤ 400 distinct SKUs are dirty
    per second one call a second carries them all (more than 400 and latency grows), hence the 300-SKU universe.
(b) a full Sync Stock of N SKUs (default 50,000) against the bound ⌈N / 400⌉ calls at 1 req/s. Goal ≤ 1.1×.
(c) oversell: buyers buy at 2 orders/s on Rakuten for 10 minutes while warehouse stock also changes (receipts
    and write-offs, ~1/s); Kura learns of the orders through its own order sync (every 5 minutes by default) and
    holds their units. A sale was beyond what Kura had when, at the moment it was placed, the SKU's units sold on
    Rakuten and not yet held by Kura (that sale included) exceeded what Kura had free — replayed from Kura's
    ledger. Goal 0 with the default buffer and the sales guard (both defaults).

The sandbox runs in its own process (`python -m rms_sandbox`), Kura on a SQLite file (--postgres: PostgreSQL).
Run: python bench/bench_stock.py [--skus 50000] [--burst-seconds 15] [--burst-skus 300] [--burst-tx-rate 20]
     [--burst-tx-size 50] [--burst-per-change] [--oversell-seconds 600] [--order-poll S] [--postgres]
     [--skip-latency] [--skip-full] [--skip-oversell]"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from kura.catalog.models import Product, ProductType, Sku  # noqa: E402
from kura.channels.rakuten import stock  # noqa: E402
from kura.db import Database, utcnow  # noqa: E402
from kura.errors import InsufficientStock  # noqa: E402
from kura.inventory import channel_stock  # noqa: E402
from kura.inventory.models import StockLevel  # noqa: E402
from kura.inventory.service import LineKind, StockLine, adjust, apply_lines, create_warehouse, receive  # noqa: E402
from kura.jobs import outbox, registry  # noqa: E402
from kura.jobs.queue import EmbeddedJobs, make_huey  # noqa: E402
from kura.migrate import upgrade  # noqa: E402
from kura.secrets import encrypt  # noqa: E402
from kura.stores.models import Binding, BindingEntity, Channel, Store  # noqa: E402

UPSERT_RATE = 1.0  # inventories.bulk.upsert, req/s (the sandbox's default, reference §8)
BATCH = 400


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class Sandbox:
    def __init__(self, tmp: Path) -> None:
        port = 18765 + random.randint(0, 1000)
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rms_sandbox", "--port", str(port), "--db", str(tmp / "sandbox.db"),
             "--seed", "7", "--items", "3", "--orders", "0", "--clock", "real"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.http = httpx.Client(base_url=self.url, timeout=60)
        for _ in range(200):
            try:
                self.shop = self.http.get("/_sandbox/shops").json()["shops"][0]
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sandbox did not start")

    def stock(self) -> dict[tuple[str, str], int]:
        rows = self.http.get(f"/_sandbox/shops/{self.shop['shop_id']}/stock").json()["stock"]
        return {(r["manageNumber"], r["variantId"]): int(r["quantity"]) for r in rows}

    def new_shop(self, name: str) -> dict[str, Any]:
        """A shop of its own (its orders are imported by its store only)."""
        return dict(self.http.post("/_sandbox/shops", json={"name": name, "shop_url": f"{name}-shop"}).json())

    def order(self, mn: str, vid: str, shop: dict[str, Any] | None = None) -> bool:
        r = self.http.post(f"/_sandbox/shops/{(shop or self.shop)['shop_id']}/orders",
                           json={"items": [{"manageNumber": mn, "variantId": vid, "units": 1}]})  # fmt: skip
        return r.status_code < 300

    def writes(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"/_sandbox/shops/{self.shop['shop_id']}/writes",
                                  params={"function": "inventories.bulk.upsert"}).json()["writes"])  # fmt: skip

    def upsert_requests(self) -> int:
        stats = self.http.get("/_sandbox/stats").json()["stats"]
        return sum(s["requests"] for s in stats if s["function"] == "inventories.bulk.upsert")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def make_store(db: Database, sb: Sandbox, name: str, buffer: dict[str, Any] | None,
               shop: dict[str, Any] | None = None) -> int:  # fmt: skip
    shop = shop or sb.shop
    with db.transaction() as s:
        settings = {"stock_buffer": buffer} if buffer is not None else {}
        store = Store(name=name, channel=Channel.rakuten, shop_code=f"{shop['shop_url']}-{name}",
                      api_base_url=sb.url, license_key_enc=encrypt(shop["license_key"]),
                      service_secret_enc=encrypt(shop["service_secret"]), settings=settings)  # fmt: skip
        s.add(store)
        s.flush()
        return store.id


def make_skus(db: Database, store_id: int, warehouse_id: int, prefix: str, n: int, units: int,
              per_item: int = 100) -> list[tuple[str, str, str]]:  # fmt: skip
    """n single SKUs bound on the store as <prefix-item>/<sku>, `units` each, by bulk inserts."""
    now = utcnow()
    made: list[tuple[str, str, str]] = []
    with db.transaction() as s:
        for start in range(0, n, 5000):
            codes = [f"{prefix}-{i:06d}" for i in range(start, min(n, start + 5000))]
            s.execute(insert(Product), [{"type": ProductType.single, "code": c, "name": c, "selling_price": 1000,
                                         "images": [], "axes": [], "attributes": {}, "search_text": c.lower(),
                                         "active": True, "created_at": now, "updated_at": now} for c in codes])
            pids = dict(s.execute(select(Product.code, Product.id).where(Product.code.in_(codes))).all())
            s.execute(insert(Sku), [{"code": c, "product_id": pids[c], "axis_values": {}, "active": True,
                                     "created_at": now} for c in codes])
            sids = dict(s.execute(select(Sku.code, Sku.id).where(Sku.code.in_(codes))).all())
            rows = []
            for c in codes:
                mn = f"{prefix}-item-{int(c.rsplit('-', 1)[1]) // per_item:04d}".lower()
                rows.append({"store_id": store_id, "entity": BindingEntity.sku, "local_id": sids[c],
                             "external_id": f"{mn}/{c}", "data": {"manage_number": mn, "variant_id": c},
                             "created_at": now})
                made.append((c, mn, c))
            s.execute(insert(Binding), rows)
            if units:
                s.execute(insert(StockLevel), [{"warehouse_id": warehouse_id, "sku_id": sids[c], "on_hand": units,
                                                "reserved": 0, "updated_at": now} for c in codes])
    return made


# --------------------------------------------------------------------------------------------- (a)


class PushLog:
    """Kura's side of every successful inventories.bulk.upsert of the pusher: when its quantities were read (a
    read that begins after a commit sees that commit), when RMS answered, and what it sent."""

    def __init__(self) -> None:
        self.pushes: list[tuple[float, float, list[tuple[str, str, int]]]] = []
        self._local = threading.local()
        self._targets = stock.targets

    def install(self) -> None:
        from kura.stores.service import client_for, set_client_factory

        def targets(session: Any, store_id: int, codes: Any = None) -> Any:
            self._local.read_at = time.time()  # before the reader's first query, so before its snapshot
            return self._targets(session, store_id, codes)

        def factory(store: Store, db: Database) -> Any:
            client = client_for(store, db)
            upsert = client.bulk_upsert_inventories

            def recorded(updates: Any) -> None:
                read_at = getattr(self._local, "read_at", 0.0)
                upsert(updates)
                self.pushes.append((read_at, time.time(), [(u.manage_number, u.variant_id, u.quantity)
                                                            for u in updates]))  # fmt: skip

            client.bulk_upsert_inventories = recorded  # type: ignore[method-assign]
            return client

        stock.targets = targets
        set_client_factory(factory)

    def uninstall(self) -> None:
        from kura.stores.service import set_client_factory

        stock.targets = self._targets
        set_client_factory(None)


def _cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when None)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pending_stock(db: Database, store_id: int) -> int:
    with db.reader() as s:
        return len(outbox.pending(s, store_id, kind="stock"))


def _wait_drained(db: Database, store_id: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _pending_stock(db, store_id) and time.monotonic() < deadline:
        time.sleep(0.1)


def bench_latency(db: Database, sb: Sandbox, warehouse_id: int, burst_seconds: float, burst_skus: int,
                  tx_rate: float, tx_size: int, per_change: bool = False) -> dict[str, Any]:  # fmt: skip
    store_id = make_store(db, sb, "latency", {"mode": "units", "value": 0})
    skus = make_skus(db, store_id, warehouse_id, "lat", 20, 0)
    universe = make_skus(db, store_id, warehouse_id, "bst", burst_skus, 50)
    pushlog = PushLog()
    pushlog.install()
    first_write = max((w["id"] for w in sb.writes()), default=0)
    with db.transaction() as s:  # first push of every SKU, so the later ones only change values
        channel_stock.mark_store_dirty(s, store_id)
    _wait_drained(db, store_id)
    time.sleep(3)
    observed: list[tuple[float, dict[tuple[str, str], int]]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            observed.append((time.time(), sb.stock()))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    qty = {c: 0 for c, _, _ in skus} | {c: 50 for c, _, _ in universe}
    # (wall time the commit returned, SKU, its quantity after it, wall time before the transaction began)
    commits: list[tuple[float, str, int, float]] = []

    rng = random.Random(1)
    for _ in range(25):  # single changes, spaced 0.3–12 s (some after the pusher stopped lingering)
        code = rng.choice(skus)[0]
        began = time.time()
        with db.transaction() as s:
            receive(s, warehouse_id, code, 1)
        qty[code] += 1
        commits.append((time.time(), code, qty[code], began))
        time.sleep(rng.choice([0.3, 1.0, 2.5, 4.0, 12.0]))
    time.sleep(3)  # the last change's push, before the poller stops
    stop.set()
    poller.join()
    singles = len(commits)
    by_code = {c: (mn, vid) for c, mn, vid in skus + universe}
    polled: list[float] = []  # singles, as the sandbox's stock endpoint showed them (quantities only grow)
    for t, code, q, _ in commits:
        key = by_code[code]
        seen = next((ot for ot, state in observed if ot >= t and state.get(key, -1) >= q), None)
        polled.append((seen - t) if seen is not None else float("inf"))

    # Bursts: tx_rate transactions a second, each tx_size changes of random SKUs of the universe (receipts,
    # and stock-count corrections down), through the inventory service, so every change goes through the ledger
    # and marks the outbox in its transaction.
    codes = [c for c, _, _ in universe]
    brng = random.Random(2)
    load_before, cpu_before, sb_cpu_before = os.getloadavg(), _cpu_s(), _cpu_s(sb.proc.pid)
    tx_times: list[float] = []
    started = time.time()
    n_tx = n_burst = unseen = 0
    while time.time() < started + burst_seconds:
        ahead = started + n_tx / tx_rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
        after = dict.fromkeys(codes, 0)
        picks: list[str] = []
        t0 = time.time()
        lines: list[StockLine] = []
        for _ in range(tx_size):
            code = brng.choice(codes)
            now = qty[code] + after[code]
            if now >= 3 and brng.random() < 0.4:
                delta = -brng.randint(1, 3)
                lines.append(StockLine(code, LineKind.adjustment, delta, reference="stock count"))
            else:
                delta = brng.randint(1, 5)
                lines.append(StockLine(code, LineKind.receipt, delta, reference="goods receipt"))
            after[code] += delta
            picks.append(code)
        began = time.time()
        with db.transaction() as s:
            if per_change:
                for line in lines:
                    change = receive if line.kind == LineKind.receipt else adjust
                    change(s, warehouse_id, line.sku, line.quantity, reference=line.reference)
            else:
                apply_lines(s, warehouse_id, lines)
        t = time.time()
        tx_times.append(t - t0)
        net = dict(after)
        for code in picks:
            qty[code] += after[code]
            after[code] = 0
        # Every change of the tx commits at t. A SKU whose changes in one tx cancel out (+2 then −2) shows no new
        # quantity, so there is nothing to push and no latency to measure: its changes are counted apart.
        commits.extend((t, code, qty[code], began) for code in picks if net[code])
        unseen += sum(1 for code in picks if not net[code])
        n_burst += len(picks)
        n_tx += 1
    burst_end = time.time()
    burst_n = n_burst
    burst_rate = burst_n / (burst_end - started)
    _wait_drained(db, store_id)
    time.sleep(1.5)
    load_after, cpu, sb_cpu = os.getloadavg(), _cpu_s() - cpu_before, _cpu_s(sb.proc.pid) - sb_cpu_before
    pushlog.uninstall()

    # Verify Kura's record against the sandbox's writes log: the same upserts, in order, same quantities.
    writes = [w for w in sb.writes() if w["id"] > first_write and int(w["status"]) < 300]
    mismatched = 0
    write_at: list[float] = []
    for (_, _, sent), w in zip(pushlog.pushes, writes, strict=False):
        body = {(str(r["manageNumber"]).lower(), str(r["variantId"]), int(r["quantity"]))
                for r in (w.get("body") or {}).get("inventories", [])}  # fmt: skip
        mismatched += body != {(mn.lower(), vid, q) for mn, vid, q in sent}
        write_at.append(float(w["at"]["epoch"]))
    same_log = len(writes) == len(pushlog.pushes) and not mismatched
    final = sb.stock()
    wrong_final = sum(final.get(by_code[c]) != q for c, q in qty.items())

    # Per change: the first push that carries it — one whose read began after the commit returned, or one whose
    # read began during the transaction and sent the quantity the change left (the store's buffer is 0) — the
    # sandbox wrote that push at write_at (its own clock): latency = write_at − the commit's return.
    per_key: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, (_, _, sent) in enumerate(pushlog.pushes):
        for mn, vid, q in sent:
            per_key.setdefault((mn, vid), []).append((i, q))
    reads = [p[0] for p in pushlog.pushes]
    latencies: list[float] = []
    for t, code, q_after, began in commits:
        found = per_key.get(by_code[code], [])
        k = bisect.bisect_left([reads[i] for i, _ in found], began) if found else 0
        carried = next((i for i, q in found[k:] if reads[i] >= t or q == q_after), None)
        latencies.append(write_at[carried] - t if carried is not None and carried < len(write_at) else float("inf"))
    single, burst = latencies[:singles], latencies[singles:]
    burst_pushes = [p for p in pushlog.pushes if p[1] >= started]
    return {"single_n": len(single), "single_p50": pct(single, 50), "single_p95": pct(single, 95),
            "single_p99": pct(single, 99), "single_polled_p50": pct(polled, 50), "single_polled_p99": pct(polled, 99),
            "burst_n": burst_n, "burst_rate": burst_rate, "per_change": per_change, "burst_tx": n_tx,
            "burst_cancelled": unseen,
            "tx_size": tx_size,
            "tx_rate": n_tx / (burst_end - started), "tx_p50_ms": pct(tx_times, 50) * 1000,
            "tx_p99_ms": pct(tx_times, 99) * 1000, "burst_skus": burst_skus, "burst_seconds": burst_end - started,
            "burst_p50": pct(burst, 50), "burst_p95": pct(burst, 95), "burst_p99": pct(burst, 99),
            "burst_max": max(burst), "burst_upserts": len(burst_pushes),
            "burst_records": sum(len(p[2]) for p in burst_pushes),
            "max_batch": max((len(p[2]) for p in burst_pushes), default=0), "same_log": same_log,
            "log_counts": (len(pushlog.pushes), len(writes), mismatched), "wrong_final": wrong_final,
            "load_before": load_before, "load_after": load_after, "cpu_kura": cpu, "cpu_sandbox": sb_cpu,
            "upsert_calls": sb.upsert_requests()}  # fmt: skip


# --------------------------------------------------------------------------------------------- (b)


def bench_full_sync(db: Database, sb: Sandbox, warehouse_id: int, n: int) -> dict[str, Any]:
    from kura.jobs.runs import run_job

    store_id = make_store(db, sb, "full", {"mode": "units", "value": 0})
    made = time.monotonic()
    make_skus(db, store_id, warehouse_id, "full", n, 5)
    setup = time.monotonic() - made
    calls = math.ceil(n / BATCH)
    bound = calls / UPSERT_RATE
    before = sb.upsert_requests()
    started = time.monotonic()
    run = run_job(db, stock.SYNC_JOB, store_id,
                  lambda sid, progress: stock.sync_stock(db, store_id, progress=progress), lease_ttl_s=300)  # fmt: skip
    took = time.monotonic() - started
    return {"skus": n, "setup_s": setup, "seconds": took, "calls": calls, "bound_s": bound, "ratio": took / bound,
            "status": run.status.value, "counts": run.counts, "requests": sb.upsert_requests() - before}


# --------------------------------------------------------------------------------------------- (c)


def bench_oversell(db: Database, sb: Sandbox, warehouse_id: int, seconds: float, n_skus: int, units: int,
                   order_poll_s: int | None, order_rate: float, guard: bool = True) -> dict[str, Any]:  # fmt: skip
    """Buyers buy on Rakuten at `order_rate` while the warehouse receives and writes off stock; Kura learns of
    the orders through its own order sync (every `order_poll_s`, default the store default), which holds their
    units. A sale is beyond what Kura had when, at the moment it was placed, the SKU's units sold on Rakuten and
    not yet held by Kura (this sale included) exceeded what Kura had free (on hand − held)."""
    from kura.catalog.service import ProductFields, create_single
    from kura.channels.rakuten import listing
    from kura.channels.rakuten.orders import KIND_NEW, OrderSyncSettings, update_order_settings
    from kura.inventory.models import StockMovement, StockReason

    # A shop of its own: every Rakuten store of this Kura imports its shop's orders and holds their units, and
    # the stores of (a) and (b) share the first shop.
    shop = sb.new_shop("oversell")
    store_id = make_store(db, sb, "oversell", None, shop)  # the default buffer, the sales guard on (its default)
    with db.transaction() as s:
        s.get_one(Store, store_id).settings = {"default_genre_id": "100371", "stock_sales_guard": guard}
    skus: list[tuple[str, str, str]] = []
    for i in range(n_skus):  # real items on the sandbox, so its buyers can buy them
        code = f"ovs-{i:04d}"
        with db.transaction() as s:
            product_id = create_single(s, code, ProductFields(name=f"商品{i}", selling_price=1000)).id
            receive(s, warehouse_id, code, units)
        result = listing.list_product(db, store_id, product_id)
        assert result.listed, result.problems
        skus.append((code, code, code))
    poll = order_poll_s or OrderSyncSettings().new_orders_interval_s
    with db.transaction() as s:
        update_order_settings(s, store_id, {"new_orders_interval_s": poll})
    time.sleep(3)  # listing marked the SKUs dirty; the pusher sends the store's quantity (with its buffer)
    rng = random.Random(3)
    sales: list[tuple[float, str]] = []  # (wall time the order was sent, SKU)
    stop = threading.Event()
    tally = {"orders": 0, "sold_out": 0, "warehouse_changes": 0}

    def buyers() -> None:
        while not stop.is_set():
            code, mn, vid = rng.choice(skus)
            sent = time.time()
            if sb.order(mn, vid, shop):
                sales.append((sent, code))
                tally["orders"] += 1
            else:
                tally["sold_out"] += 1
            time.sleep(1 / order_rate)

    def warehouse() -> None:  # receipts and write-offs in the warehouse, ~1/s
        w = random.Random(5)
        while not stop.is_set():
            code = w.choice(skus)[0]
            try:
                with db.transaction() as s:
                    if w.random() < 0.5:
                        adjust(s, warehouse_id, code, -1, reference="damaged")
                    else:
                        receive(s, warehouse_id, code, w.randint(1, 2))
                tally["warehouse_changes"] += 1
            except InsufficientStock:
                pass
            time.sleep(1.0)

    threads = [threading.Thread(target=f, daemon=True) for f in (buyers, warehouse)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    from kura.jobs.queue import execute

    execute(KIND_NEW, store_id)  # a last poll, so every order placed is in Kura
    _wait_drained(db, store_id)

    # Replay Kura's ledger of the SKUs against the sales, in time order.
    by_code = {code: i for i, (code, _, _) in enumerate(skus)}
    with db.reader() as s:
        ids = {code: sku_id for code, sku_id in s.execute(select(Sku.code, Sku.id).where(Sku.code.in_(list(by_code))))}
        moves = s.execute(
            select(StockMovement.created_at, StockMovement.sku_id, StockMovement.reason, StockMovement.reserved_change,
                   StockMovement.on_hand_after, StockMovement.reserved_after)
            .where(StockMovement.sku_id.in_(list(ids.values())), StockMovement.warehouse_id == warehouse_id)
            .order_by(StockMovement.id)
        ).all()  # fmt: skip
    code_of = {v: k for k, v in ids.items()}
    events: list[tuple[float, int, str, Any]] = [(m[0].timestamp(), 1, code_of[m[1]], m) for m in moves]
    events += [(t, 0, code, None) for t, code in sales]
    events.sort(key=lambda e: (e[0], e[1]))
    free: dict[str, int] = {}
    unheld: dict[str, int] = dict.fromkeys(by_code, 0)  # sold on Rakuten, not yet held by Kura
    beyond = 0
    for _, kind, code, m in events:
        if kind == 1:
            free[code] = m.on_hand_after - m.reserved_after
            if m.reason in (StockReason.reserve, StockReason.release):
                unheld[code] -= m.reserved_change
        else:
            unheld[code] += 1
            if unheld[code] > free.get(code, 0):
                beyond += 1
    never_held = sum(max(0, n) for n in unheld.values())
    return {**tally, "seconds": seconds, "skus": n_skus, "units_each": units, "order_poll_s": poll,
            "buffer": channel_stock.DEFAULT_BUFFER.to_dict(), "beyond": beyond, "never_held": never_held,
            "guard": guard}


def _load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=50_000)
    ap.add_argument("--burst-seconds", type=float, default=15.0)
    ap.add_argument("--burst-skus", type=int, default=300, help="the SKUs a burst changes (≤ 400: one upsert)")
    ap.add_argument("--burst-tx-rate", type=float, default=20.0, help="burst transactions a second")
    ap.add_argument("--burst-tx-size", type=int, default=50, help="stock changes per burst transaction")
    ap.add_argument("--burst-per-change", action="store_true",
                    help="write each change with its own receive()/adjust() call instead of one stock batch per "
                         "transaction (apply_lines, as a goods receipt or stock count sheet arrives)")
    ap.add_argument("--oversell-seconds", type=float, default=600.0)
    ap.add_argument("--oversell-skus", type=int, default=60)
    ap.add_argument("--oversell-units", type=int, default=6)
    ap.add_argument("--order-poll", type=int, default=None, help="the store's new-order poll in seconds (default: "
                    "Kura's default, 300)")
    ap.add_argument("--postgres", action="store_true", help="Kura on PostgreSQL (127.0.0.1:5432, database bench_stock, "
                    "dropped and re-created) instead of a SQLite file")
    ap.add_argument("--no-sales-guard", action="store_true", help="(c) with the store's sales guard off, to see "
                    "what it prevents")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-oversell", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stock-"))
    if args.postgres:
        from tests.distributed.cluster import fresh_database

        url = fresh_database("bench_stock")  # dropped and re-created
    else:
        url = f"sqlite:///{tmp / 'kura.db'}"
        upgrade(url)
    print(f"Kura's database: {url.split('://', 1)[0]}")
    os.environ.setdefault("KURA_SECRET_KEY_FILE", str(tmp / "secret.key"))
    db = Database(url)
    sb = Sandbox(tmp)
    huey = make_huey(f"sqlite:///{tmp / 'queue.db'}", name="bench-stock")
    import kura.jobs.queue as queue

    queue.get_huey = lambda: huey  # type: ignore[assignment]  # kicks after commit go to the embedded queue
    jobs = EmbeddedJobs(huey, db, workers=4, dispatch_interval_s=1.0)
    jobs.start()
    try:
        with db.transaction() as s:
            warehouse_id = create_warehouse(s, "BENCH", "bench").id
        if not args.skip_latency:
            r = bench_latency(db, sb, warehouse_id, args.burst_seconds, args.burst_skus, args.burst_tx_rate,
                              args.burst_tx_size, args.burst_per_change)  # fmt: skip
            print(f"(a) latency commit → sandbox write, single changes (n={r['single_n']}): "
                  f"p50 {r['single_p50']:.2f} s, p95 {r['single_p95']:.2f} s, p99 {r['single_p99']:.2f} s "
                  f"(as polled from the sandbox's stock "
                  f"endpoint: p50 {r['single_polled_p50']:.2f} s, p99 {r['single_polled_p99']:.2f} s)")
            print(f"(a) latency under bursts: {r['burst_n']} changes in {r['burst_seconds']:.1f} s = "
                  f"{r['burst_rate']:.0f} changes/s ({r['burst_tx']} transactions × {r['tx_size']} changes "
                  f"({'one receive/adjust call each' if r['per_change'] else 'one stock batch'}), "
                  f"{r['tx_rate']:.1f} tx/s, commit p50 {r['tx_p50_ms']:.0f} ms / p99 {r['tx_p99_ms']:.0f} ms; "
                  f"random SKUs among {r['burst_skus']} listed): p50 {r['burst_p50']:.2f} s, "
                  f"p95 {r['burst_p95']:.2f} s, p99 {r['burst_p99']:.2f} s, max {r['burst_max']:.2f} s "
                  f"(goal p99 ≤ 2 s; {r['burst_cancelled']} changes cancelled out within their transaction, leaving "
                  "nothing to push, are not timed)")
            print(f"    {r['burst_upserts']} bulk.upsert calls carried {r['burst_records']} records (largest batch "
                  f"{r['max_batch']}); Kura's push record matches the sandbox's writes log: {r['same_log']} "
                  f"(pushes, writes, mismatched = {r['log_counts']}); SKUs whose final sandbox quantity differs from "
                  f"Kura's: {r['wrong_final']}")
            print(f"    load average before {_load(r['load_before'])}, after {_load(r['load_after'])} "
                  f"({os.cpu_count()} CPUs); CPU during the burst: Kura process {r['cpu_kura']:.1f} s, "
                  f"sandbox {r['cpu_sandbox']:.1f} s over {r['burst_seconds']:.1f} s")
        if not args.skip_full:
            r = bench_full_sync(db, sb, warehouse_id, args.skus)
            print(f"(b) Sync Stock of {r['skus']} SKUs: {r['seconds']:.1f} s; bound ⌈{r['skus']}/400⌉ = {r['calls']} "
                  f"calls at {UPSERT_RATE:g} req/s = {r['bound_s']:.0f} s; ratio {r['ratio']:.3f} (goal ≤ 1.1); "
                  f"run {r['status']} {r['counts']}; upsert requests {r['requests']} (setup {r['setup_s']:.1f} s)")
        if not args.skip_oversell:
            r = bench_oversell(db, sb, warehouse_id, args.oversell_seconds, args.oversell_skus, args.oversell_units,
                               args.order_poll, 2.0, not args.no_sales_guard)
            print(f"(c) oversell over {r['seconds']:.0f} s, {r['skus']} SKUs × {r['units_each']} units, buyers 2 "
                  f"orders/s, Kura's order poll every {r['order_poll_s']} s, default buffer {r['buffer']}, sales guard "
                  f"{'on' if r['guard'] else 'OFF'}: {r['orders']} orders, {r['sold_out']} refused as sold out, "
                  f"{r['warehouse_changes']} warehouse changes; units sold beyond what Kura had: {r['beyond']} "
                  f"(goal 0); units sold that Kura could not hold after its last poll: {r['never_held']} "
                  "(a write-off of a unit sold but not yet imported)")
        with db.reader() as s:
            print(f"outbox rows left: {len(outbox.pending(s, kind='stock'))}")
    finally:
        jobs.stop()
        sb.close()
        db.dispose()
    _ = statistics, registry


if __name__ == "__main__":
    main()
