"""Helpers for test suites: run a carrier sandbox on a free local port in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from carriers_sandbox.app import create_app
from carriers_sandbox.config import CarrierSandboxConfig


class CarrierAdminClient:
    """Thin httpx wrapper over the /_sandbox/ endpoints."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def _json(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def clock(self) -> dict[str, Any]:
        return dict(self._json(self.http.get("/_sandbox/clock")))

    def advance(self, seconds: float) -> dict[str, Any]:
        return dict(self._json(self.http.post("/_sandbox/clock/advance", json={"seconds": seconds})))

    def configure(self, **settings: Any) -> dict[str, Any]:
        return dict(self._json(self.http.put("/_sandbox/config", json=settings)))

    def parcels(self, carrier: str | None = None) -> list[dict[str, Any]]:
        params = {"carrier": carrier} if carrier else {}
        return list(self._json(self.http.get("/_sandbox/parcels", params=params))["parcels"])

    def parcel(self, number: str) -> dict[str, Any]:
        return dict(self._json(self.http.get(f"/_sandbox/parcels/{number}")))

    def force(self, number: str, outcome: str, at_once: bool = False) -> dict[str, Any]:
        body = {"outcome": outcome, "at_once": at_once}
        return dict(self._json(self.http.post(f"/_sandbox/parcels/{number}/outcome", json=body)))

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        self._json(self.http.put("/_sandbox/faults", json={"count": count, "status": status}))

    def reset(self) -> None:
        self._json(self.http.post("/_sandbox/reset"))

    def close(self) -> None:
        self.http.close()


@dataclass
class RunningCarrierSandbox:
    base_url: str
    admin: CarrierAdminClient
    app: Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_carrier_sandbox(config: CarrierSandboxConfig | None = None) -> Iterator[RunningCarrierSandbox]:
    """Starts the sandbox with uvicorn on 127.0.0.1:<free port>.

    Defaults to an in-memory store, a manual clock and no random failures or losses, so tests decide
    both when time passes and how each parcel ends (`admin.force`)."""
    config = config or CarrierSandboxConfig(db_path=":memory:", clock="manual", absent_rate=0.0,
                                            failed_rate=0.0, lost_rate=0.0)
    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, name="carriers-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the carrier sandbox did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    admin = CarrierAdminClient(base_url)
    try:
        yield RunningCarrierSandbox(base_url=base_url, admin=admin, app=app)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=10)
        app.state.store.close()
