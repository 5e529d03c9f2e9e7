"""Fixtures for the RMS sandbox contract tests: an in-process app on a manual clock with one seeded shop."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx; it is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from rms_sandbox.app import create_app
from rms_sandbox.config import SandboxConfig
from rms_sandbox.core import Sandbox
from rms_sandbox.seed import seed_shop, shop_view
from rms_sandbox.testing import esa_header

START = "2025-06-02T10:00:00+09:00"


@dataclass
class Env:
    client: TestClient
    sb: Sandbox
    shop: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": esa_header(self.shop["service_secret"], self.shop["license_key"])}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers={**self.auth, **kw.pop("headers", {})}, **kw)

    def send(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {**self.auth, "Content-Type": "application/json; charset=utf-8", **kw.pop("headers", {})}
        return self.client.request(method, path, json=body, headers=headers, **kw)

    def order_api(self, function: str, body: Any) -> httpx.Response:
        return self.send("POST", f"/es/2.0/order/{function}/", body)


def make_env(config: SandboxConfig | None = None, seed: int = 7, items: int = 30, orders: int = 200) -> Env:
    config = config or SandboxConfig(clock="manual", clock_start=START, rate_limits_enabled=False)
    app = create_app(config)
    sb: Sandbox = app.state.sandbox
    shop = shop_view(sb, seed_shop(sb, seed, items, orders))
    return Env(client=TestClient(app), sb=sb, shop=shop)


@pytest.fixture
def env() -> Iterator[Env]:
    e = make_env()
    yield e
    e.client.close()
    e.sb.store.close()
