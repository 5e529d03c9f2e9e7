"""Scale: N Rakuten shops × M SKUs on Kura's distributed mode (PostgreSQL, a redis-server of its own, the RMS
sandbox process with its rate limits on), with 1, 2 and 4 `kura worker` processes (thread workers): throughput of
the product import (SKUs/s) and of stock pushes (SKUs/s), and the speed-up over one worker.

Issue 8's target is 200 shops × 2,000 SKUs (400,000 SKUs). On the 2-core CI machine one worker imports ~100 SKUs/s,
so the default is scaled down to fit ~5 minutes for all three passes: 40 shops × 60 items (≈ 170 SKUs each with
their variants, ≈ 6,800 SKUs); the figures printed say exactly what ran.

The goal is ≥ 1.8× at 2 workers and ≥ 3.4× at 4. Work bound by the per-shop rate limits (a shop's calls wait for
their slot) scales with the number of jobs running at once; work bound by the CPU scales with the cores only —
the machine's CPU busy share is printed per phase.

Phases, per worker count, on a fresh database (same sandbox shops):
- import: the N shops are connected and their product imports queued at once; until every import is done.
  (An import receives the shop's stock, which marks its SKUs for a push: those first pushes run meanwhile.)
- push: once idle, every bound SKU of every shop is marked dirty in one transaction (as a change of the shops'
  default buffer does); until the stock outbox is empty. KURA_STOCK_LINGER_S=0: a pusher does not wait for more.

Usage: python bench/bench_scale.py [--stores 40] [--items 60] [--workers 1,2,4] [--threads 4]
PostgreSQL on 127.0.0.1:5432 (KURA_TEST_PG_ADMIN_URL); the database bench_scale is dropped and re-created.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from kura.db import Database  # noqa: E402
from kura.inventory.channel_stock import OUTBOX_KIND, mark_store_dirty  # noqa: E402
from kura.jobs import queue as job_queue  # noqa: E402
from kura.jobs.outbox import OutboxRow  # noqa: E402
from kura.jobs.runs import JobRun, RunStatus  # noqa: E402
from kura.stores.models import Binding, BindingEntity  # noqa: E402
from kura.stores.service import IMPORT_KIND  # noqa: E402
from tests.distributed.cluster import (  # noqa: E402
    Cluster,
    RedisServer,
    Sandbox,
    connect_shops,
    drop_database,
    fresh_database,
    wait_until,
)

DB_NAME = "bench_scale"
GOAL = {2: 1.8, 4: 3.4}


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def counts(db: Database, ids: list[int]) -> dict[str, int]:
    with db.reader() as s:
        done = s.scalar(select(func.count(func.distinct(JobRun.store_id))).where(
            JobRun.kind == IMPORT_KIND, JobRun.status == RunStatus.done, JobRun.store_id.in_(ids))) or 0  # fmt: skip
        failed = s.scalar(select(func.count()).select_from(JobRun).where(JobRun.status == RunStatus.failed)) or 0
        running = s.scalar(select(func.count()).select_from(JobRun).where(JobRun.status == RunStatus.running)) or 0
        dirty = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == OUTBOX_KIND)) or 0
        skus = s.scalar(select(func.count()).select_from(Binding).where(Binding.entity == BindingEntity.sku)) or 0
    return {"imports_done": done, "failed": failed, "running": running, "dirty": dirty, "skus": skus}


def rms_calls(sandbox: Sandbox) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in sandbox.stats():
        seen = out.setdefault(row["function"], [0, 0])
        seen[0] += row["requests"]
        seen[1] += row["rate_limited"]
    return out


def run_one(workdir: Path, redis: RedisServer, sandbox: Sandbox, shops: list[dict[str, Any]], workers: int,
            threads: int, timeout_s: float) -> dict[str, Any]:  # fmt: skip
    url = fresh_database(DB_NAME)
    db = Database(url)
    redis.restart(down_s=0.2)  # an empty queue and empty rate-limit windows
    sandbox.admin("DELETE", "/_sandbox/stats")
    cluster = Cluster(workdir / f"w{workers}", url, redis.url + "/0", redis.url + "/1",
                      {"KURA_DISPATCH_INTERVAL_S": "1", "KURA_STOCK_LINGER_S": "0"})  # fmt: skip
    huey = cluster.huey()
    job_queue.get_huey = lambda: huey  # type: ignore[assignment]  # kicks from this process go to the cluster
    try:
        for i in range(workers):
            cluster.worker(threads, name=f"worker-{i}")
        cluster.scheduler(name="scheduler")
        time.sleep(2.0)  # let the processes import Kura before the clock starts
        cpu0, t0 = cpu_busy(), time.monotonic()
        ids = connect_shops(db, cluster, sandbox, shops)
        wait_until(lambda: counts(db, ids)["imports_done"] == len(ids), timeout_s, 0.25, "the imports")
        import_s, cpu1 = time.monotonic() - t0, cpu_busy()
        imported = counts(db, ids)
        import_calls = rms_calls(sandbox)
        wait_until(lambda: (c := counts(db, ids))["dirty"] == 0 and c["running"] == 0, timeout_s, 0.25,
                   "the first pushes to drain")  # fmt: skip
        sandbox.admin("DELETE", "/_sandbox/stats")

        cpu2, t2 = cpu_busy(), time.monotonic()
        with db.transaction() as s:
            marked = sum(mark_store_dirty(s, store_id) for store_id in ids)
        wait_until(lambda: counts(db, ids)["dirty"] == 0, timeout_s, 0.1, "the pushes")
        push_s, cpu3 = time.monotonic() - t2, cpu_busy()
        push_calls = rms_calls(sandbox)
        failed = counts(db, ids)["failed"]
    finally:
        cluster.stop()
        db.dispose()
        drop_database(DB_NAME)
    return {
        "workers": workers, "skus": imported["skus"], "import_s": import_s, "import_rate": imported["skus"] / import_s,
        "import_cpu": busy_share(cpu0, cpu1), "pushed": marked, "push_s": push_s, "push_rate": marked / push_s,
        "push_cpu": busy_share(cpu2, cpu3), "failed_runs": failed,
        "import_calls": sum(v[0] for v in import_calls.values()),
        "import_429": sum(v[1] for v in import_calls.values()),
        "push_calls": push_calls.get("inventories.bulk.upsert", [0, 0])[0],
        "push_429": sum(v[1] for v in push_calls.values()),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=40)
    parser.add_argument("--items", type=int, default=60, help="items per shop (≈ 3 SKUs each with variants)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--threads", type=int, default=4, help="threads per `kura worker` (--workers N)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    counts_ = [int(w) for w in args.workers.split(",")]
    started = time.monotonic()
    print(f"machine: {os.cpu_count()} CPU(s); issue target 200 shops × 2,000 SKUs, scaled down to fit ~8 minutes here")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis")
        redis.start()
        sandbox = Sandbox(workdir / "sandbox")
        try:
            t = time.monotonic()
            shops = [sandbox.create_shop(seed=1000 + i, items=args.items) for i in range(args.stores)]
            print(f"sandbox: {args.stores} shops × {args.items} items seeded in {time.monotonic() - t:.0f} s "
                  f"(rate limits on: items.search 5/s, inventories.bulk.get 5/s, inventories.bulk.upsert 1/s "
                  f"per shop); {args.threads} threads per worker process")  # fmt: skip
            results = []
            for workers in counts_:
                result = run_one(workdir, redis, sandbox, shops, workers, args.threads, args.timeout)
                results.append(result)
                print(f"  {workers} worker(s): import {result['skus']} SKUs in {result['import_s']:.1f} s = "
                      f"{result['import_rate']:.0f} SKUs/s (CPU busy {result['import_cpu']:.0%}, "
                      f"{result['import_calls']} RMS calls, {result['import_429']} × 429); push {result['pushed']} "
                      f"SKUs in {result['push_s']:.1f} s = {result['push_rate']:.0f} SKUs/s (CPU busy "
                      f"{result['push_cpu']:.0%}, {result['push_calls']} bulk.upsert calls, {result['push_429']} × "
                      f"429); failed runs {result['failed_runs']}", flush=True)  # fmt: skip
        finally:
            sandbox.stop()
            redis.stop()
    base = results[0]
    print(
        f"\nN × M = {args.stores} shops × {base['skus'] / args.stores:.0f} SKUs ({base['skus']} SKUs), "
        f"{args.threads} threads per worker"
    )
    print(f"{'workers':>8} {'import SKUs/s':>14} {'×':>6} {'CPU':>5} {'push SKUs/s':>12} {'×':>6} {'CPU':>5}  goal")
    for r in results:
        goal = GOAL.get(r["workers"])
        print(f"{r['workers']:>8} {r['import_rate']:>14.0f} {r['import_rate'] / base['import_rate']:>5.2f}× "
              f"{r['import_cpu']:>5.0%} {r['push_rate']:>12.0f} {r['push_rate'] / base['push_rate']:>5.2f}× "
              f"{r['push_cpu']:>5.0%}  {f'≥ {goal}×' if goal else ''}")  # fmt: skip
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
