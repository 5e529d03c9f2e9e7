"""Helpers for test suites: run a sandbox on a free local port in a background thread."""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from rms_sandbox.app import create_app
from rms_sandbox.config import SandboxConfig


def esa_header(service_secret: str, license_key: str) -> str:
    """`Authorization` value for RMS: `ESA base64(serviceSecret:licenseKey)`."""
    return "ESA " + base64.b64encode(f"{service_secret}:{license_key}".encode()).decode()


class AdminClient:
    """Thin httpx wrapper over the /_sandbox/ endpoints."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self._orders = itertools.count(1)

    def _json(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def shops(self) -> list[dict[str, Any]]:
        return list(self._json(self.http.get("/_sandbox/shops"))["shops"])

    def create_shop(self, **body: Any) -> dict[str, Any]:
        return dict(self._json(self.http.post("/_sandbox/shops", json=body)))

    def reset(self, **body: Any) -> dict[str, Any]:
        return dict(self._json(self.http.post("/_sandbox/reset", json=body)))

    def place_order(self, shop: str | int, items: list[dict[str, Any]] | None = None, **body: Any) -> dict[str, Any]:
        """A buyer's order: these items, or random ones. Random picks are seeded per client and order (unless
        `seed` is given), so that a test's orders are the same in every run: an unseeded buyer sometimes asked
        for two of an item with one left (409, sold out) and failed a test now and then."""
        body.setdefault("seed", f"{shop}:{next(self._orders)}")
        return dict(self._json(self.http.post(f"/_sandbox/shops/{shop}/orders", json={"items": items or [], **body})))

    def order(self, shop: str | int, order_number: str) -> dict[str, Any]:
        return dict(self._json(self.http.get(f"/_sandbox/shops/{shop}/orders/{order_number}")))

    def advance(self, seconds: float) -> dict[str, Any]:
        return dict(self._json(self.http.post("/_sandbox/clock/advance", json={"seconds": seconds})))

    def clock(self) -> dict[str, Any]:
        return dict(self._json(self.http.get("/_sandbox/clock")))

    def set_faults(self, function: str = "*", **spec: Any) -> dict[str, Any]:
        return dict(self._json(self.http.put("/_sandbox/faults", json={"function": function, **spec})))

    def clear_faults(self) -> None:
        self._json(self.http.delete("/_sandbox/faults"))

    def stock(self, shop: str | int, **query: str) -> list[dict[str, Any]]:
        return list(self._json(self.http.get(f"/_sandbox/shops/{shop}/stock", params=query))["stock"])

    def set_stock(self, shop: str | int, stock: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self._json(self.http.put(f"/_sandbox/shops/{shop}/stock", json={"stock": stock}))["stock"])

    def shipping_reports(self, shop: str | int) -> list[dict[str, Any]]:
        return list(self._json(self.http.get(f"/_sandbox/shops/{shop}/shipping-reports"))["shipping_reports"])

    def writes(self, shop: str | int, function: str | None = None) -> list[dict[str, Any]]:
        params = {"function": function} if function else {}
        return list(self._json(self.http.get(f"/_sandbox/shops/{shop}/writes", params=params))["writes"])

    def stats(self) -> list[dict[str, Any]]:
        return list(self._json(self.http.get("/_sandbox/stats"))["stats"])

    def set_license(self, shop: str | int, **body: Any) -> dict[str, Any]:
        return dict(self._json(self.http.post(f"/_sandbox/shops/{shop}/license", json=body)))

    def configure(self, **settings: Any) -> dict[str, Any]:
        return dict(self._json(self.http.put("/_sandbox/config", json=settings)))

    def close(self) -> None:
        self.http.close()


@dataclass
class RunningSandbox:
    base_url: str
    shop: dict[str, Any]
    admin: AdminClient
    app: Any

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": esa_header(self.shop["service_secret"], self.shop["license_key"])}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, seed: int | None = 42, items: int = 50,
                    orders: int = 100) -> Iterator[RunningSandbox]:
    """Starts the sandbox with uvicorn on 127.0.0.1:<free port>; `seed=None` starts without a shop.

    Defaults to an in-memory store and a manual clock, so tests decide when time passes."""
    config = config or SandboxConfig(db_path=":memory:", clock="manual")
    app = create_app(config)
    shop: dict[str, Any] = {}
    if seed is not None:
        from rms_sandbox.seed import seed_shop, shop_view

        shop = shop_view(app.state.sandbox, seed_shop(app.state.sandbox, seed, items, orders))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name="rms-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the RMS sandbox did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    admin = AdminClient(base_url)
    try:
        yield RunningSandbox(base_url=base_url, shop=shop, admin=admin, app=app)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=10)
        app.state.sandbox.store.close()
