"""Log lines: JSON with the store, the run and the request they belong to, and no personal data or secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kura.db import Database
from kura.jobs.runs import run_job
from kura.observability.logging import log_context, make_handler, request_id_middleware

LICENSE = "SL123456_qQlicenseKEYlicense77"
SECRET = "SP123456_zZsecretSERVICEsecret42"
ORDER = {
    "orderNumber": "338333-20260501-0000000001",
    "OrdererModel": {
        "familyName": "山田",
        "firstName": "花子",
        "zipCode1": "100",
        "zipCode2": "0001",
        "prefecture": "東京都",
        "city": "千代田区",
        "subAddress": "千代田1-1",
        "phoneNumber1": "090",
        "phoneNumber2": "1234",
        "phoneNumber3": "5678",
        "emailAddress": "hanako@example.jp",
    },
    "PackageModelList": [{"SenderModel": {"familyName": "佐藤", "phoneNumber1": "03-9999-0000"}}],
}
PERSONAL = ("山田", "花子", "佐藤", "千代田1-1", "hanako@example.jp", "03-9999-0000", "1234")

log = logging.getLogger("kura.tests.ops")


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    fmt = getattr(request, "param", "json")
    stream = io.StringIO()
    handler = make_handler(fmt, stream)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield stream
    log.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_written_inside_a_job_carry_its_store_kind_and_run(db: Database, captured: io.StringIO) -> None:
    def sync(store_id: int | None, progress: object) -> None:
        log.info("importing orders")

    run = run_job(db, "ops.logging", 7, sync)
    log.info("after the run")

    inside, after = lines(captured)
    assert (inside["message"], inside["level"], inside["logger"]) == ("importing orders", "INFO", "kura.tests.ops")
    assert (inside["store_id"], inside["job_kind"], inside["run_id"]) == (7, "ops.logging", run.id)
    assert "store_id" not in after and "run_id" not in after, "the context ends with the run"


def test_an_order_payload_and_a_licence_key_are_masked_wherever_they_are_passed(captured: io.StringIO) -> None:
    with log_context(store_id=3):
        log.info("got order %s", ORDER, extra={"license_key": LICENSE, "payload": ORDER, "sku": "MUG-1"})
        log.warning("calling GET /es/1.0/license-management/license-key/expiry-date?licenseKey=%s", LICENSE)
        log.info("header was ESA %s and secret %s", "U1AxMjM0NTY6U0wxMjM0NTY=", SECRET)
        log.info({"orderer_family_name": "山田", "ship_phone": "03-9999-0000", "ship_prefecture": "東京都"})
    text = captured.getvalue()
    for value in (*PERSONAL, LICENSE, SECRET, "U1AxMjM0NTY6U0wxMjM0NTY="):
        assert value not in text, f"{value!r} reached the log"
    first = lines(captured)[0]
    assert first["store_id"] == 3 and first["sku"] == "MUG-1" and first["license_key"] == "***"
    assert first["payload"]["OrdererModel"]["familyName"] == "***"
    assert first["payload"]["OrdererModel"]["prefecture"] == "東京都", "a prefecture identifies no one"
    assert first["payload"]["orderNumber"] == ORDER["orderNumber"]
    assert "licenseKey=***" in lines(captured)[1]["message"]


def test_an_exception_traceback_is_masked_too(captured: io.StringIO) -> None:
    try:
        raise ValueError(f"rejected licenseKey={LICENSE}")
    except ValueError:
        log.exception("call failed")
    [line] = lines(captured)
    assert LICENSE not in line["exc"] and "licenseKey=***" in line["exc"]


@pytest.mark.parametrize("captured", ["text"], indirect=True)
def test_text_lines_show_the_context_in_brackets(captured: io.StringIO) -> None:
    with log_context(store_id=5, run_id=42):
        log.info("pushing stock for %s", {"phone": "090-1111-2222", "sku": "MUG-1"})
    line = captured.getvalue()
    assert "[store_id=5 run_id=42] pushing stock" in line
    assert "090-1111-2222" not in line and "MUG-1" in line


def test_web_requests_log_under_their_request_id_and_answer_with_it(captured: io.StringIO) -> None:
    app = FastAPI()
    app.middleware("http")(request_id_middleware)

    @app.get("/work")
    def work() -> dict[str, str]:
        log.info("working")
        return {}

    with TestClient(app) as client:
        given = client.get("/work", headers={"X-Request-ID": "req-abc.1"})
        made = client.get("/work", headers={"X-Request-ID": "bad id\nwith newline"})
    assert given.headers["X-Request-ID"] == "req-abc.1"
    assert made.headers["X-Request-ID"] not in ("", "bad id\nwith newline")
    first, second = lines(captured)
    assert first["request_id"] == "req-abc.1" and second["request_id"] == made.headers["X-Request-ID"]


def test_the_access_log_keeps_no_query_string() -> None:
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = make_handler("json", stream)
    access.addHandler(handler)
    level, access.level = access.level, logging.INFO
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/orders?q=山田", "1.1", 200)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert "山田" not in stream.getvalue() and "/orders?…" in stream.getvalue()
