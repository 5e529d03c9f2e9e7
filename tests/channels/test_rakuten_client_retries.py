"""Retries, backoff, rate limiting and call records of the RMS client (its own logic, not Rakuten's)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date

import httpx
import pytest
from rakuten_fakes import LICENSE, SECRET, Harness, payload

from kura.channels.rakuten.client import BasketShipping, InventoryUpdate, RmsSettings, ShippingRow, esa_header
from kura.channels.rakuten.errors import NotFound, Permanent, Retryable, Suspended
from kura.ratelimit import RateLimitTimeout

Make = Callable[..., Harness]


def sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """Replies with each response in turn (raising exceptions), then repeats the last."""
    queue: Iterator[httpx.Response | Exception] = iter(responses)
    last: list[httpx.Response | Exception] = []

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(queue, None)
        if item is None:
            item = last[0]
        last[:] = [item]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def status(code: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(code, json={"errors": [{"code": "X0000", "message": "boom"}]}, headers=headers)


OK = httpx.Response(200, json={"manageNumber": "a"})


def test_server_errors_are_retried_with_exponential_backoff_and_full_jitter(harness: Make) -> None:
    h = harness(sequence(status(500), status(502), status(503), OK), backoff_base=2.0, max_retries=4)
    assert h.client.get_item("a") == {"manageNumber": "a"}
    assert len(h.requests) == 4
    assert len(h.sleeps) == 3
    for attempt, delay in enumerate(h.sleeps, start=1):
        assert 0 <= delay <= 2.0 * 2 ** (attempt - 1)
    assert len(set(h.sleeps)) == 3  # jittered, not fixed steps


def test_backoff_is_capped(harness: Make) -> None:
    h = harness(sequence(status(500)), backoff_base=10.0, max_retries=6, settings=RmsSettings(max_backoff=15.0))
    with pytest.raises(Retryable):
        h.client.get_item("a")
    assert max(h.sleeps) <= 15.0


def test_retry_after_is_honoured(harness: Make) -> None:
    h = harness(sequence(status(429, {"Retry-After": "7"}), OK))
    h.client.get_item("a")
    assert h.sleeps == [7.0]


def test_a_retry_after_longer_than_allowed_is_left_to_the_job_layer(harness: Make) -> None:
    h = harness(sequence(status(503, {"Retry-After": "3600"}), OK))
    with pytest.raises(Retryable) as caught:
        h.client.get_item("a")
    assert caught.value.retry_after == 3600.0
    assert h.sleeps == [] and len(h.requests) == 1


def test_gives_up_after_max_retries_with_the_last_retryable_error(harness: Make) -> None:
    h = harness(sequence(status(500)), max_retries=2)
    with pytest.raises(Retryable) as caught:
        h.client.get_item("a")
    assert len(h.requests) == 3 and caught.value.status == 500


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(400, json={"errors": [{"code": "IE0001"}]}), Permanent),
        (httpx.Response(401, json={"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}), Suspended),
        (httpx.Response(404, json={"errors": [{"code": "GE0014"}]}), NotFound),
    ],
)
def test_permanent_suspended_and_not_found_are_never_retried(
    harness: Make, response: httpx.Response, kind: type
) -> None:
    h = harness(sequence(response, OK))
    with pytest.raises(kind):
        h.client.get_item("a")
    assert len(h.requests) == 1 and h.sleeps == []


def test_network_errors_and_timeouts_of_reads_are_retried(harness: Make) -> None:
    h = harness(sequence(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), OK))
    assert h.client.get_item("a") == {"manageNumber": "a"}
    assert len(h.requests) == 3
    assert [r.status for r in h.records] == [None, None, 200]
    assert "ConnectError" in (h.records[0].error or "")


def test_a_write_that_may_have_been_applied_is_not_repeated_blindly(harness: Make) -> None:
    h = harness(sequence(httpx.ReadTimeout("slow"), httpx.Response(204)))
    with pytest.raises(Retryable) as caught:
        h.client.bulk_upsert_inventories([InventoryUpdate("a", "v", -1, "RELATIVE")])
    assert caught.value.maybe_applied and len(h.requests) == 1


def test_adding_a_shipping_row_is_not_repeated_after_a_500(harness: Make) -> None:
    h = harness(sequence(status(500), httpx.Response(200, json={"MessageModelList": []})))
    with pytest.raises(Retryable):
        h.client.update_order_shipping("n1", [BasketShipping(1, [ShippingRow("1001", "1", date(2024, 5, 6))])])
    assert len(h.requests) == 1


def test_a_write_rms_certainly_did_not_apply_is_retried(harness: Make) -> None:
    h = harness(sequence(httpx.ConnectError("refused"), status(429), httpx.Response(204)))
    h.client.bulk_upsert_inventories([InventoryUpdate("a", "v", -1, "RELATIVE")])
    assert len(h.requests) == 3


def test_absolute_stock_writes_are_idempotent_and_retried_after_a_timeout(harness: Make) -> None:
    h = harness(sequence(httpx.ReadTimeout("slow"), httpx.Response(204)))
    h.client.bulk_upsert_inventories([InventoryUpdate("a", "v", 5)])
    assert len(h.requests) == 2


class CountingLimiter:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, float | None]] = []
        self.fail = fail

    def acquire(self, store_key: str, function: str, timeout: float | None = None) -> float:
        self.calls.append((store_key, function, timeout))
        if self.fail:
            raise RateLimitTimeout("no slot")
        return 0.0


def test_rate_limiter_is_asked_before_every_attempt_per_store_and_function(harness: Make) -> None:
    limiter = CountingLimiter()
    h = harness(sequence(status(500), OK), limiter=limiter)
    h.client.get_item("a")
    assert limiter.calls == [("shop-7", "items.get", 120.0), ("shop-7", "items.get", 120.0)]
    h2 = harness(sequence(httpx.Response(200, json=payload("search_order.json"))), limiter=limiter)
    h2.client.confirm_orders(["n1"])
    assert limiter.calls[-1][:2] == ("shop-7", "rpay.order.confirmOrder")


def test_no_free_rate_limit_slot_is_a_retryable_error_without_a_request(harness: Make) -> None:
    h = harness(sequence(OK), limiter=CountingLimiter(fail=True))
    with pytest.raises(Retryable, match="no slot"):
        h.client.get_item("a")
    assert h.requests == []


def test_each_attempt_is_recorded_with_personal_data_masked(harness: Make) -> None:
    h = harness(sequence(status(503), httpx.Response(200, json=payload("get_order.json"))))
    h.client.get_orders(["987654-20240503-0000123401"])
    first, second = h.records
    assert (first.function, first.method, first.path, first.status, first.attempt) == (
        "rpay.order.getOrder",
        "POST",
        "/es/2.0/order/getOrder/",
        503,
        1,
    )
    assert first.error and "maintenance" in first.error
    assert (second.status, second.attempt, second.error) == (200, 2, None)
    assert second.request_body == {"orderNumberList": ["987654-20240503-0000123401"], "version": 10}
    orderer = second.response_body["OrderModelList"][0]["OrdererModel"]
    assert orderer["familyName"] == "***" and orderer["emailAddress"] == "***" and orderer["prefecture"] == "東京都"
    for personal in ("山田", "ハナコ", "神宮前", "a1b2c3d4e5s1", "1111", "HANAKO", "置き配希望"):
        assert personal not in repr(h.records)
    assert second.duration_ms >= 0


def test_secrets_never_appear_in_records_logs_errors_or_reprs(harness: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness(sequence(status(500), httpx.Response(401, json={"Results": {"errorCode": "ES01-01"}})))
    with pytest.raises(Suspended) as caught:
        h.client.get_license_expiry()
    token = esa_header(SECRET, LICENSE).split()[1]
    seen = " ".join([repr(h.records), caplog.text, str(caught.value), repr(caught.value.response), repr(h.client)])
    for secret in (SECRET, LICENSE, token):
        assert secret not in seen


def test_a_failing_call_hook_does_not_fail_the_call(harness: Make) -> None:
    def broken(record: object) -> None:
        raise RuntimeError("log sink down")

    h = harness(sequence(OK))
    h.client._on_call = broken
    assert h.client.get_item("a") == {"manageNumber": "a"}
