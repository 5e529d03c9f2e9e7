"""Kura in distributed mode as real processes, for the distributed and chaos tests and bench/bench_scale.py:
a PostgreSQL database of its own, Redis, an RMS sandbox process with a real clock, and `kura serve`,
`kura worker` and `kura scheduler` subprocesses configured by environment variables alone."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from kura.db import Database

PG_ADMIN_URL = os.environ.get("KURA_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("KURA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, every: float = 0.25, what: str = "condition") -> Any:
    """Polls until condition() is truthy and returns its value; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # a service restarting answers with errors for a moment
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def postgres_available() -> bool:
    try:
        db = Database(PG_ADMIN_URL)
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db.dispose()
        return True
    except Exception:
        return False


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def fresh_database(name: str) -> str:
    """An empty PostgreSQL database `name` (dropped first), migrated to head; returns its URL."""
    from kura.migrate import upgrade

    admin = Database(PG_ADMIN_URL)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


def drop_database(name: str) -> None:
    admin = Database(PG_ADMIN_URL)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: restarting it loses everything."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: redis_available(self.url + "/0"), 10, 0.1, "the test's redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def restart(self, down_s: float = 2.0) -> None:
        """Kills it (its data is gone) and starts it again after `down_s` seconds of outage."""
        self.stop()
        time.sleep(down_s)
        self.start()


class Sandbox:
    """The RMS sandbox as its own process, real clock, rate limits on."""

    def __init__(self, workdir: Path, *, order_rate_per_hour: float = 0.0, rate_limits: bool = True) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "rms_sandbox", "--host", "127.0.0.1", "--port", str(self.port),
                "--db", str(workdir / "rms_sandbox.db"), "--no-seed", "--clock", "real",
                "--order-rate", str(order_rate_per_hour), "--buyer-cancel-share", "0", "--log-level", "warning"]
        if not rate_limits:
            args.append("--no-rate-limits")
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "rms_sandbox.log", "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.base_url, timeout=60)
        wait_until(lambda: self.http.get("/_sandbox/shops").status_code == 200, 20, 0.1, "the RMS sandbox")

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def create_shop(self, seed: int, items: int, orders: int = 0) -> dict[str, Any]:
        """A seeded shop whose manage numbers and SKUs are its own ("s<seed>-…"): Kura has one catalog."""
        body = {"seed": seed, "items": items, "orders": orders, "prefix": f"s{seed}-"}
        return dict(self.admin("POST", "/_sandbox/shops", json=body))

    def place_order(self, shop: str) -> str | None:
        """A buyer orders random SKUs; None when they were sold out or hidden (409)."""
        response = self.http.post(f"/_sandbox/shops/{shop}/orders", json={"items": []})
        if response.status_code == 409:
            return None
        response.raise_for_status()
        return str(response.json()["orderNumber"])

    def set_config(self, **values: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "/_sandbox/config", json=values))

    def stats(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "/_sandbox/stats")["stats"])

    def stock(self, shop: str) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"/_sandbox/shops/{shop}/stock")["stock"])

    def order_numbers(self, shop: str) -> list[str]:
        """Every order of the shop on the sandbox (read straight from its database, not through RMS)."""
        import sqlite3

        path = Path(self.process.args[self.process.args.index("--db") + 1])  # type: ignore[union-attr]
        with sqlite3.connect(path, timeout=30) as conn:
            rows = conn.execute(
                "SELECT o.order_number FROM orders o JOIN shops s ON s.shop_id = o.shop_id WHERE s.shop_url = ?",
                (shop,),
            ).fetchall()
        return [r[0] for r in rows]

    def stop(self) -> None:
        self.http.close()
        _stop(self.process)
        self.log.close()


@dataclass
class Cluster:
    """Kura's processes on one machine, configured exactly as on many: by KURA_* variables only."""

    workdir: Path
    database_url: str
    queue_url: str
    rate_limit_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        from kura.config import get_settings

        env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
        env.update({
            "KURA_DATABASE_URL": self.database_url,
            "KURA_QUEUE_URL": self.queue_url,
            "KURA_RATE_LIMIT_URL": self.rate_limit_url,
            # the stores' credentials are encrypted with this process's key: every process needs the same one
            "KURA_SECRET_KEY": get_settings().fernet_key().decode(),
            "KURA_VAR_DIR": str(self.workdir / "var"),
            "KURA_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        env.update(self.extra_env)
        return env

    def spawn(self, *args: str, name: str | None = None) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        label = name or f"{args[0]}-{len(self.processes)}"
        log = open(self.workdir / f"{label}.log", "ab")  # noqa: SIM115  (the child keeps it)
        process = subprocess.Popen([sys.executable, "-m", "kura.cli", *args], env=self.env(),
                                   stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)  # fmt: skip
        log.close()
        self.processes.append(process)
        return process

    def worker(self, threads: int = 4, name: str | None = None) -> subprocess.Popen[bytes]:
        return self.spawn("worker", "--workers", str(threads), name=name)

    def scheduler(self, name: str | None = None) -> subprocess.Popen[bytes]:
        return self.spawn("scheduler", name=name)

    def web(self, port: int, name: str | None = None) -> subprocess.Popen[bytes]:
        return self.spawn("serve", "--port", str(port), name=name)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no graceful stop, no re-queue; the lease and the queue message die with it."""
        process.kill()
        process.wait(5)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def huey(self) -> Any:
        from kura.jobs.queue import make_huey

        return make_huey(self.queue_url)


def connect_shops(db: Database, cluster: Cluster, sandbox: Sandbox, shops: Sequence[dict[str, Any]],
                  *, import_products: bool = True) -> list[int]:  # fmt: skip
    """Connects sandbox shops as Kura stores (credentials checked through the shared rate limiter) and
    kicks each product import onto the cluster's queue, as `kura stores connect` does; returns store ids."""
    from kura.jobs.queue import enqueue
    from kura.ratelimit import RateLimiter
    from kura.stores.service import IMPORT_KIND, connect_rakuten

    limiter = RateLimiter(cluster.rate_limit_url)
    huey = cluster.huey()
    ids = []
    for shop in shops:
        connected = connect_rakuten(db, name=f"shop {shop['shop_url']}", shop_url=shop["shop_url"],
                                    license_key=shop["license_key"], service_secret=shop["service_secret"],
                                    api_base_url=sandbox.base_url, import_products=import_products,
                                    limiter=limiter)  # fmt: skip
        if connected.run_id is not None:
            enqueue(huey, IMPORT_KIND, connected.store_id, connected.run_id)
        ids.append(connected.store_id)
    return ids


def rate_limit_report(stats: Iterable[dict[str, Any]], license_keys: Iterable[str] | None = None) -> dict[str, int]:
    """Requests and 429s summed over the sandbox's counters (of the given licence keys, or all)."""
    keys = set(license_keys) if license_keys is not None else None
    rows = [r for r in stats if keys is None or r["license_key"] in keys]
    return {"requests": sum(r["requests"] for r in rows), "rate_limited": sum(r["rate_limited"] for r in rows)}
