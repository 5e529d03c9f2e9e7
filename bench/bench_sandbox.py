"""Benchmark of the RMS sandbox with rate limits off: inventory records/s through bulk-upsert (400 per
request) and orders/s through getOrder (100 per request), over real HTTP on 127.0.0.1.

The sandbox runs in its own process (as `python -m rms_sandbox`), so the client does not share its GIL.
Run: python bench/bench_sandbox.py [--seconds 5] [--concurrency 4]"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

GOAL_RECORDS = 20_000
GOAL_ORDERS = 2_000


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(port: int, db: str) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "rms_sandbox", "--port", str(port), "--db", db, "--no-rate-limits",
           "--order-rate", "0", "--seed", "42", "--items", "500", "--orders", "3000", "--log-level", "warning"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/shops", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("sandbox did not start")


def run_for(seconds: float, concurrency: int, make_call: Callable[[httpx.Client, int], int], base: str,
            headers: dict[str, str]) -> tuple[int, int, float]:
    """Runs calls from `concurrency` threads for `seconds`; returns (units done, requests, elapsed)."""
    done = [0] * concurrency
    requests = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            i = 0
            while time.monotonic() < stop:
                done[n] += make_call(client, n * 1_000_000 + i)
                requests[n] += 1
                i += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done), sum(requests), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", default=":memory:", help='":memory:" or a SQLite file (WAL)')
    args = parser.parse_args(argv)
    port = free_port()
    process = start_sandbox(port, args.db)
    base = f"http://127.0.0.1:{port}"
    try:
        shop = httpx.get(f"{base}/_sandbox/shops").json()["shops"][0]
        token = base64.b64encode(f"{shop['service_secret']}:{shop['license_key']}".encode()).decode()
        headers = {"Authorization": f"ESA {token}", "Content-Type": "application/json; charset=utf-8"}
        stock = httpx.get(f"{base}/_sandbox/shops/{shop['shop_id']}/stock").json()["stock"]
        pairs = [(s["manageNumber"], s["variantId"]) for s in stock]
        search = httpx.post(f"{base}/es/2.0/order/searchOrder/", headers=headers, json={
            "dateType": 1, "startDatetime": time.strftime("%Y-%m-%dT%H:%M:%S+0900",
                                                          time.gmtime(time.time() + 9 * 3600 - 62 * 86400)),
            "endDatetime": time.strftime("%Y-%m-%dT%H:%M:%S+0900", time.gmtime(time.time() + 9 * 3600 + 60)),
            "PaginationRequestModel": {"requestRecordsAmount": 1000, "requestPage": 1}}).json()
        numbers = search["orderNumberList"]
        assert len(numbers) >= 100, "not enough seeded orders"

        def bulk_upsert(client: httpx.Client, i: int) -> int:
            start = (i * 400) % max(1, len(pairs) - 400)
            batch = [{"manageNumber": m, "variantId": v, "mode": "ABSOLUTE", "quantity": (i + k) % 100}
                     for k, (m, v) in enumerate(pairs[start:start + 400])]
            response = client.post("/es/2.0/inventories/bulk-upsert", json={"inventories": batch})
            assert response.status_code == 204, response.text
            return len(batch)

        def get_order(version: int) -> Callable[[httpx.Client, int], int]:
            def call(client: httpx.Client, i: int) -> int:
                start = (i * 100) % max(1, len(numbers) - 100)
                response = client.post("/es/2.0/order/getOrder/",
                                       json={"orderNumberList": numbers[start:start + 100], "version": version})
                assert response.status_code == 200, response.text
                return len(response.json()["OrderModelList"])
            return call

        print(f"sandbox: {len(pairs)} SKUs, {len(numbers)} orders in the window; db={args.db}; "
              f"{args.concurrency} client threads, {args.seconds:.0f} s per test, {os.cpu_count()} CPUs")
        rows = [
            ("inventories.bulk.upsert (400/request)", "records/s", GOAL_RECORDS, bulk_upsert),
            ("getOrder version 10 (100/request)", "orders/s", GOAL_ORDERS, get_order(10)),
            ("getOrder version 7 (100/request)", "orders/s", GOAL_ORDERS, get_order(7)),
        ]
        for label, unit, goal, call in rows:
            units, requests, elapsed = run_for(args.seconds, args.concurrency, call, base, headers)
            rate = units / elapsed
            verdict = "OK" if rate >= goal else "BELOW GOAL"
            print(f"{label:40s} {rate:10,.0f} {unit:10s} ({requests / elapsed:6.1f} req/s)  "
                  f"goal ≥ {goal:,} {unit}: {verdict}")
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
