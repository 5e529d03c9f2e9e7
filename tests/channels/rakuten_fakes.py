"""Test helpers for the Rakuten channel: composed payloads and a client over httpx.MockTransport."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from kura.channels.rakuten.client import CallRecord, RmsClient

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "SP987654_zZsecretSERVICEsecret42"
LICENSE = "SL987654_qQlicenseKEYlicense77"

Handler = Callable[[httpx.Request], httpx.Response]


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


class Harness:
    """A client whose HTTP goes to `handler`; keeps requests, call records and requested sleeps."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.records: list[CallRecord] = []
        self.sleeps: list[float] = []

        def transport(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        kwargs.setdefault("rng", random.Random(7))
        self.client = RmsClient(
            "https://rms.test",
            SECRET,
            LICENSE,
            store_key="shop-7",
            transport=httpx.MockTransport(transport),
            on_call=self.records.append,
            sleep=self.sleeps.append,
            **kwargs,
        )
