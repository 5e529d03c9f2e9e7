"""Chaos: 20 Rakuten shops syncing on 3 worker processes and a scheduler (PostgreSQL, a redis-server of the test's
own) while buyers order on the sandbox's market and warehouse stock changes, and meanwhile workers are SIGKILLed
and restarted at random and Redis is restarted (losing every queued message and rate-limit window). After a quiet
settle period: every order on Rakuten is in Kura exactly once, every bound SKU's quantity on Rakuten is Kura's
computed quantity, no shop drew a 429 on a 1-per-second function (≤ 1 % on the 5-per-second ones), and no job is
stuck (no lease held past expiry, no outbox row dirty from before the settle, no run 'running' without its lease).

`make test-chaos` (≈ 4 minutes; in CI). Knobs: KURA_CHAOS_S (chaos phase, default 180 s), KURA_CHAOS_SETTLE_S
(bound of the settle period, default 90 s: see SETTLE_S), KURA_CHAOS_SEED (default 8), KURA_STOCK_LINGER_S (passed
to Kura's processes). Besides the end figures it prints when each check turned good during the settle, what the
worker threads were running meanwhile, the thread-seconds each job kind used and the longest gap between two runs
of one store's job: the first place to look when the settle grows.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from kura.catalog.models import Sku
from kura.channels.rakuten.orders import update_order_settings
from kura.db import Database, utcnow
from kura.errors import InsufficientStock
from kura.inventory.channel_stock import store_quantities
from kura.inventory.service import adjust
from kura.jobs import queue as job_queue
from kura.jobs.leases import Lease
from kura.jobs.outbox import OutboxRow
from kura.jobs.runs import ABANDONED_SWEEP_EVERY_S, JobRun, RunStatus
from kura.orders.models import Order
from kura.stores.models import Binding, BindingEntity, Store
from kura.stores.service import IMPORT_KIND
from rms_sandbox.config import DEFAULT_RATE_LIMITS
from tests.distributed.cluster import Cluster, RedisServer, Sandbox, connect_shops, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.chaos]

SHOPS = 20
ITEMS = 20
WORKERS = 3
CHAOS_S = float(os.environ.get("KURA_CHAOS_S", "180"))  # "several minutes"
SEED = int(os.environ.get("KURA_CHAOS_SEED", "8"))
ORDERS_PER_SHOP_HOUR = 90.0  # ≈ 1.5 a minute per shop, 30 a minute over the 20 shops
LEASE_TTL_S = 10  # a killed worker's work is taken over this long after its last renewal
ORDER_POLL_S = 30  # every shop's new-order poll interval: the shortest Kura allows
# The settle bound, from what Kura promises: the last order placed arrives within one poll interval; a poll lost
# with a killed worker or the restarted Redis comes back at the next slot (one more interval), or once its lease
# expired and the abandoned-run sweep saw it; then 10 s for the stock pushes the order's reservation caused.
SETTLE_S = float(os.environ.get("KURA_CHAOS_SETTLE_S") or 2 * ORDER_POLL_S + LEASE_TTL_S + ABANDONED_SWEEP_EVERY_S + 10)
KILL_EVERY_S = (15.0, 25.0)
REDIS_RESTART_AT_S = 0.45  # share of the chaos phase
# Kura's own knobs handed to its processes when set here (the cluster passes no other KURA_* variable), e.g.
# KURA_STOCK_LINGER_S=10 to see how the order polls fare when stock pushers hold worker threads longer.
PASSED_THROUGH = ("KURA_STOCK_LINGER_S",)


@dataclass
class Tally:
    stock_changes: int = 0
    stock_refused: int = 0
    stock_errors: Counter[str] = field(default_factory=Counter)
    kills: list[str] = field(default_factory=list)


def bound_skus(db: Database, store_id: int) -> dict[str, int]:
    """manageNumber/variantId (manage number lower-cased, as the sandbox stores it) → Kura SKU id."""
    with db.reader() as s:
        rows = s.execute(select(Binding.external_id, Binding.local_id).where(
            Binding.store_id == store_id, Binding.entity == BindingEntity.sku)).all()  # fmt: skip
    out = {}
    for external_id, sku_id in rows:
        mn, _, vid = external_id.rpartition("/")
        out[f"{mn.lower()}/{vid}"] = sku_id
    return out


def change_stock(db: Database, targets: list[tuple[int, str]], stop: threading.Event, tally: Tally) -> None:
    """A warehouse at work: adjusts a random bound SKU's on-hand through Kura's inventory service, ~3 a second."""
    rng = random.Random(SEED)
    while not stop.wait(rng.uniform(0.15, 0.45)):
        warehouse_id, code = rng.choice(targets)
        try:
            with db.transaction() as s:
                adjust(s, warehouse_id, code, rng.choice([-3, -2, -1, 1, 2, 3, 5]), note="chaos", actor="chaos")
            tally.stock_changes += 1
        except InsufficientStock:
            tally.stock_refused += 1
        except Exception as exc:  # e.g. a deadlock with a worker's reservation: counted and printed
            tally.stock_errors[type(exc).__name__] += 1


def check_orders(db: Database, sandbox: Sandbox, shops: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    problems, on_rakuten, in_kura = [], 0, 0
    with db.reader() as s:
        dupes = s.execute(select(Order.store_id, Order.order_number).group_by(Order.store_id, Order.order_number)
                          .having(func.count() > 1)).all()  # fmt: skip
        counts = dict(s.execute(select(Order.store_id, func.count()).group_by(Order.store_id)).all())
        numbers: dict[int, set[str]] = {}
        for store_id, number in s.execute(select(Order.store_id, Order.order_number)):
            numbers.setdefault(store_id, set()).add(number)
    if dupes:
        problems.append(f"duplicate orders in Kura: {dupes[:5]}")
    for store_id, shop in shops.items():
        theirs = set(sandbox.order_numbers(shop["shop_url"]))
        ours = numbers.get(store_id, set())
        on_rakuten += len(theirs)
        in_kura += counts.get(store_id, 0)
        if theirs - ours:
            problems.append(f"store {store_id}: {len(theirs - ours)} Rakuten orders missing in Kura")
        if ours - theirs:
            problems.append(f"store {store_id}: {len(ours - theirs)} orders in Kura unknown on Rakuten")
        if counts.get(store_id, 0) != len(theirs):
            problems.append(f"store {store_id}: {counts.get(store_id, 0)} orders in Kura, {len(theirs)} on Rakuten")
    return {"on_rakuten": on_rakuten, "in_kura": in_kura, "duplicates": len(dupes)}, problems


def check_stock(db: Database, sandbox: Sandbox, shops: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    compared, mismatched = 0, []
    for store_id, shop in shops.items():
        bound = bound_skus(db, store_id)
        with db.reader() as s:
            ours = store_quantities(s, store_id, list(bound.values()))
        for row in sandbox.stock(shop["shop_url"]):
            key = f"{str(row['manageNumber']).lower()}/{row['variantId']}"
            if key not in bound:
                continue
            compared += 1
            expected = ours[bound[key]].quantity
            if int(row["quantity"]) != expected:
                mismatched.append(f"store {store_id} {key}: Rakuten {row['quantity']}, Kura {expected}")
    problems = [f"{len(mismatched)} of {compared} quantities differ: {mismatched[:5]}"] if mismatched else []
    return {"compared": compared, "mismatched": len(mismatched), "first": mismatched[:20]}, problems


def explain_mismatch(db: Database, sandbox: Sandbox, shops: dict[int, dict[str, Any]], line: str) -> str:
    """What Kura holds and what Rakuten was last sent for one mismatched SKU ("store 4 mn/vid: …")."""
    from kura.inventory.channel_stock import ChannelStock
    from kura.inventory.models import StockLevel

    head = line.split(":", 1)[0].split()
    store_id, key = int(head[1]), head[2]
    sku_id = bound_skus(db, store_id)[key]
    with db.reader() as s:
        levels = s.execute(select(StockLevel.warehouse_id, StockLevel.on_hand, StockLevel.reserved)
                           .where(StockLevel.sku_id == sku_id)).all()  # fmt: skip
        pushed = s.execute(select(ChannelStock.pushed_qty, ChannelStock.pushed_at).where(
            ChannelStock.store_id == store_id, ChannelStock.sku_id == sku_id)).first()  # fmt: skip
        code = s.scalar(select(Sku.code).where(Sku.id == sku_id))
        row = s.scalars(select(OutboxRow).where(OutboxRow.store_id == store_id, OutboxRow.key == code)).first()
    mn, _, vid = key.rpartition("/")
    sent = []
    writes = sandbox.admin("GET", f"/_sandbox/shops/{shops[store_id]['shop_url']}/writes")["writes"]
    for write in writes:
        body = write.get("body")
        entries = body.get("inventories", []) if isinstance(body, dict) else []
        for entry in entries:
            if str(entry.get("manageNumber", "")).lower() == mn and str(entry.get("variantId")) == vid:
                sent.append((write["id"], (write.get("at") or {}).get("jst"), write["status"], entry.get("quantity")))
    outbox_row = row and (row.generation, row.attempts, row.next_attempt_at, row.last_error)
    return (
        f"{line}\n    Kura sku {sku_id} {code}: levels {levels}; pushed {pushed}; outbox {outbox_row}"
        f"\n    last writes to Rakuten: {sent[-4:]}"
    )


def check_jobs(db: Database, settle_started: dt.datetime) -> tuple[dict[str, Any], list[str]]:
    now = utcnow()
    with db.reader() as s:
        leases = {lease.name: lease for lease in s.scalars(select(Lease))}
        running = list(s.scalars(select(JobRun).where(JobRun.status == RunStatus.running)))
        old_outbox = list(s.scalars(select(OutboxRow).where(OutboxRow.dirty_since < settle_started)))
        outbox_rows = s.scalar(select(func.count()).select_from(OutboxRow)) or 0
        statuses = dict(s.execute(select(JobRun.status, func.count()).group_by(JobRun.status)).all())
        abandoned = s.scalar(select(func.count()).select_from(JobRun).where(JobRun.error.like("abandoned%"))) or 0
    problems = []
    grace = dt.timedelta(seconds=5)  # a run this young may not have its lease row yet (as the sweeper reads it)
    no_lease = [r for r in running if (r.started_at or now) < now - grace
                and (r.lease_name not in leases or leases[r.lease_name].expires_at <= now)]  # fmt: skip
    if no_lease:
        problems.append(f"runs 'running' without a live lease: {[(r.id, r.kind, r.store_id) for r in no_lease]}")
    running_names = {r.lease_name for r in running}
    past_expiry = [n for n, lease in leases.items() if lease.expires_at <= now and n in running_names]
    if past_expiry:
        problems.append(f"leases held past their expiry by a running run: {past_expiry}")
    too_long = [n for n, lease in leases.items() if lease.expires_at > now + dt.timedelta(seconds=LEASE_TTL_S + 5)]
    if too_long:
        problems.append(f"leases beyond the TTL cap: {too_long}")
    if old_outbox:
        rows = [(r.store_id, r.kind, r.key, r.attempts, r.last_error) for r in old_outbox[:5]]
        problems.append(f"outbox rows dirty since before the settle: {rows}")
    live = sum(1 for lease in leases.values() if lease.expires_at > now)
    figures = {"runs": {k.value: v for k, v in statuses.items()}, "abandoned_runs_recovered": abandoned,
               "running_now": len(running), "live_leases": live, "expired_lease_rows_left": len(leases) - live,
               "outbox_rows": outbox_rows, "outbox_rows_from_before_settle": len(old_outbox)}  # fmt: skip
    return figures, problems


def running_kinds(db: Database) -> dict[str, int]:
    """Runs 'running' now, by kind (short names): what the worker threads are busy with."""
    with db.reader() as s:
        rows = s.execute(select(JobRun.kind, func.count()).where(JobRun.status == RunStatus.running)
                         .group_by(JobRun.kind)).all()  # fmt: skip
    return {kind.removeprefix("rakuten."): n for kind, n in sorted(rows)}


def worker_time(db: Database, since: dt.datetime) -> tuple[dict[str, Any], dict[str, float]]:
    """Thread-seconds spent per job kind in runs started since `since`, and per kind the longest gap between
    two starts of one store's run (how late a 30 s order poll could be)."""
    with db.reader() as s:
        rows = s.execute(select(JobRun.kind, JobRun.store_id, JobRun.started_at, JobRun.finished_at)
                         .where(JobRun.started_at >= since).order_by(JobRun.started_at)).all()  # fmt: skip
    now = utcnow()
    busy: Counter[str] = Counter()
    last: dict[tuple[str, int | None], dt.datetime] = {}
    gaps: dict[str, float] = {}
    for kind, store_id, started, finished in rows:
        short = kind.removeprefix("rakuten.")
        busy[short] += ((finished or now) - started).total_seconds()
        previous = last.get((short, store_id))
        if previous is not None:
            gaps[short] = max(gaps.get(short, 0.0), (started - previous).total_seconds())
        last[(short, store_id)] = started
    return {k: round(v) for k, v in busy.most_common()}, {k: round(v) for k, v in sorted(gaps.items())}


def check_rate_limits(sandbox: Sandbox, keys: set[str]) -> tuple[dict[str, Any], list[str]]:
    per_function: dict[str, list[int]] = {}
    worst_shop: dict[str, int] = {}
    for row in sandbox.stats():
        if row["license_key"] not in keys:
            continue
        seen = per_function.setdefault(row["function"], [0, 0])
        seen[0] += row["requests"]
        seen[1] += row["rate_limited"]
        if row["rate_limited"]:
            worst_shop[row["function"]] = max(worst_shop.get(row["function"], 0), row["rate_limited"])
    problems = []
    for function, (requests, limited) in sorted(per_function.items()):
        limit = DEFAULT_RATE_LIMITS.get(function, 1)
        if limit <= 1 and limited:
            problems.append(f"{function} (1/s): {limited} × 429 in {requests} calls")
        elif limited > max(1, requests // 100):
            problems.append(f"{function} ({limit:g}/s): {limited} × 429 in {requests} calls (> 1 %)")
    figures = {f: {"calls": r, "429": n, "limit_per_s": DEFAULT_RATE_LIMITS.get(f, 1)}
               for f, (r, n) in sorted(per_function.items())}  # fmt: skip
    return figures, problems


def test_twenty_shops_survive_killed_workers_and_a_redis_restart(
    kura_pg: tuple[str, Database], redis_server: RedisServer, make_cluster: Callable[..., Cluster],
    make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    began = time.monotonic()
    _, db = kura_pg
    rng = random.Random(SEED)
    sandbox = make_sandbox()
    created = [sandbox.create_shop(seed=100 + i, items=ITEMS) for i in range(SHOPS)]
    knobs = {k: os.environ[k] for k in PASSED_THROUGH if os.environ.get(k)}
    cluster = make_cluster(KURA_DISPATCH_INTERVAL_S="1", KURA_LEASE_TTL_S=str(LEASE_TTL_S), **knobs)
    workers = [cluster.worker(4, name=f"worker-{i}") for i in range(WORKERS)]
    cluster.scheduler(name="scheduler")
    # Stock changed here is kicked onto the cluster's queue (this process's own default would be SQLite).
    huey = cluster.huey()
    monkeypatch.setattr(job_queue, "get_huey", lambda: huey)

    store_ids = connect_shops(db, cluster, sandbox, created)
    shops = dict(zip(store_ids, created, strict=True))
    with db.transaction() as s:
        for store_id in store_ids:  # order polls at the shortest interval Kura allows
            update_order_settings(s, store_id, {"new_orders_interval_s": ORDER_POLL_S, "status_interval_s": 60})

    def imported() -> bool:
        with db.reader() as s:
            done = set(s.scalars(select(JobRun.store_id).where(JobRun.kind == IMPORT_KIND,
                                                              JobRun.status == RunStatus.done)))  # fmt: skip
        return done >= set(store_ids)

    wait_until(imported, 120, 0.5, "the product imports of the 20 shops")
    targets = []
    with db.reader() as s:
        warehouses = dict(s.execute(select(Store.id, Store.import_warehouse_id).where(Store.id.in_(store_ids))).all())
    for store_id in store_ids:
        with db.reader() as s:
            codes = s.scalars(select(Sku.code).where(Sku.id.in_(list(bound_skus(db, store_id).values()))))
            targets += [(warehouses[store_id], code) for code in codes]
    setup_s = time.monotonic() - began
    print(f"\nsetup: {SHOPS} shops × {ITEMS} items imported, {len(targets)} SKUs bound, in {setup_s:.0f} s")

    # ---- chaos: buyers, stock changes, killed workers, a Redis restart
    tally = Tally()
    stop = threading.Event()
    changer = threading.Thread(target=change_stock, args=(db, targets, stop, tally), name="stock", daemon=True)
    sandbox.set_config(order_rate_per_hour=ORDERS_PER_SHOP_HOUR)
    changer.start()
    chaos_began = time.monotonic()
    next_kill = chaos_began + rng.uniform(*KILL_EVERY_S)
    redis_at, redis_restarted = chaos_began + CHAOS_S * REDIS_RESTART_AT_S, False
    generation = WORKERS
    try:
        while (now := time.monotonic()) - chaos_began < CHAOS_S:
            if now >= next_kill:
                victim = rng.choice([w for w in workers if w.poll() is None])
                cluster.kill(victim)
                workers.remove(victim)
                time.sleep(rng.uniform(0.0, 2.0))
                workers.append(cluster.worker(4, name=f"worker-{generation}"))
                generation += 1
                tally.kills.append(f"{now - chaos_began:.0f}s")
                next_kill = time.monotonic() + rng.uniform(*KILL_EVERY_S)
            if not redis_restarted and now >= redis_at:
                redis_server.restart(down_s=2.0)
                redis_restarted = True
                tally.kills.append(f"redis@{now - chaos_began:.0f}s")
            time.sleep(0.25)
    finally:
        sandbox.set_config(order_rate_per_hour=0)
        stop.set()
        changer.join(10)
    chaos_s = time.monotonic() - chaos_began

    # ---- settle: no buyers, no stock changes; polls and pushes drain; the end conditions are polled
    settle_started, settle_began = utcnow(), time.monotonic()
    problems: list[str] = []
    figures: dict[str, Any] = {}
    settled_at: dict[str, float] = {}  # when each check last turned good (seconds into the settle)
    timeline: list[str] = []  # every ~10 s: what is still wrong and what the worker threads are doing
    while True:
        figures, problems = {}, []
        elapsed = time.monotonic() - settle_began
        wrong_now: dict[str, int] = {}
        for name, check in (("orders", lambda: check_orders(db, sandbox, shops)),
                            ("stock", lambda: check_stock(db, sandbox, shops)),
                            ("jobs", lambda: check_jobs(db, settle_started))):  # fmt: skip
            found, wrong = check()
            figures[name] = found
            problems += wrong
            if wrong:
                wrong_now[name] = len(wrong)
                settled_at.pop(name, None)
            else:
                settled_at.setdefault(name, elapsed)
        if not timeline or elapsed >= 10 * len(timeline) or not problems:
            timeline.append(f"{elapsed:3.0f} s: problems {wrong_now or 'none'}; running {running_kinds(db)}")
        if not problems or time.monotonic() - settle_began > SETTLE_S:
            break
        time.sleep(2)
    settle_s = time.monotonic() - settle_began
    chaos_busy, chaos_gaps = worker_time(db, settle_started - dt.timedelta(seconds=chaos_s))
    rates, rate_problems = check_rate_limits(sandbox, {shop["license_key"] for shop in created})
    problems += rate_problems
    alive = sum(1 for p in cluster.processes if p.poll() is None)

    print(
        f"chaos: {chaos_s:.0f} s; workers SIGKILLed and restarted at {tally.kills}; stock changes "
        f"{tally.stock_changes} (refused {tally.stock_refused}, errors {dict(tally.stock_errors)})"
    )
    print(
        f"settle: {settle_s:.0f} s (bound {SETTLE_S:.0f} s); total {time.monotonic() - began:.0f} s; "
        f"live processes {alive}"
    )
    print(f"settled: { {k: round(v) for k, v in settled_at.items()} } s into the settle")
    for line in timeline:
        print(f"  {line}")
    print(
        f"worker thread-seconds by kind (chaos + settle): {chaos_busy}; longest gap between runs of one "
        f"store: {chaos_gaps}"
    )
    print(f"orders: {figures['orders']}")
    print(f"stock: { {k: v for k, v in figures['stock'].items() if k != 'first'} }")
    print(f"jobs: {figures['jobs']}")
    throttled = {f: v for f, v in rates.items() if v["429"]}
    calls = sum(v["calls"] for v in rates.values())
    print(f"RMS calls: {calls}; 429s: {throttled or 'none'}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    for line in figures["stock"].pop("first", [])[:8]:
        print(explain_mismatch(db, sandbox, shops, line))
    assert redis_restarted and len(tally.kills) >= 4
    assert figures["orders"]["on_rakuten"] >= SHOPS, "the buyers hardly ordered; the test proves little"
    assert tally.stock_changes >= 100
    assert not problems, problems
    assert cluster.processes[WORKERS].poll() is None, "the scheduler died"
