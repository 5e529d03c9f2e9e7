"""Carrier adapters against the carrier sandbox over real HTTP, and manual entry for any Rakuten code."""

from __future__ import annotations

import httpx
import pytest

from carriers_sandbox.testing import RunningCarrierSandbox
from kura.errors import Invalid
from kura.orders.models import Address
from kura.shipping.carriers import (
    CannotCancel,
    CarrierAdapter,
    CarrierRejected,
    CarrierUnavailable,
    JapanPost,
    ManualCarrier,
    Party,
    Sagawa,
    SandboxCarrier,
    UnknownShipment,
    Yamato,
    carrier_adapter,
    slot_for_carrier,
    time_slot,
    validate_number,
)
from kura.shipping.tracking import TrackingStatus, mod7_valid
from tests.shipping.conftest import RECIPIENT, make_parcel, media_boxes

DAY = 86400.0
S = TrackingStatus


def adapter(kind: type[SandboxCarrier], sandbox: RunningCarrierSandbox) -> SandboxCarrier:
    return kind(sandbox.base_url)


def statuses(carrier: CarrierAdapter, number: str) -> list[TrackingStatus]:
    return [e.status for e in carrier.track([number])[0].events]


@pytest.mark.parametrize("kind", [Yamato, Sagawa, JapanPost])
def test_issue_track_advance_delivered(kind: type[SandboxCarrier], sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(kind, sandbox)
    shipment = carrier.create_shipment(make_parcel())
    assert mod7_valid(shipment.tracking_number)
    assert shipment.carrier_code == kind.code
    assert len(media_boxes(shipment.label_pdf)) == 1
    assert shipment.tracking_url and shipment.tracking_number in shipment.tracking_url

    first = carrier.track([shipment.tracking_number])[0]
    assert first.found and first.status in (S.INFORMATION_RECEIVED,)
    assert first.delivered_at is None

    sandbox.admin.advance(3 * DAY)
    result = carrier.track([shipment.tracking_number])[0]
    assert result.status is S.DELIVERED
    assert result.delivered_at is not None and result.delivered_at.utcoffset() is not None
    seen = [e.status for e in result.events]
    for a, b in [(S.PICKED_UP, S.IN_TRANSIT), (S.IN_TRANSIT, S.OUT_FOR_DELIVERY), (S.OUT_FOR_DELIVERY, S.DELIVERED)]:
        assert seen.index(a) < seen.index(b)
    assert all(e.raw_status for e in result.events)  # the carrier's own Japanese words are kept
    assert result.events[-1].location and "大阪府" in result.events[-1].location


def test_forced_failed_delivery_goes_absent_then_redelivery_then_delivered(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(Yamato, sandbox)
    number = carrier.create_shipment(make_parcel()).tracking_number
    sandbox.admin.force(number, "absent")
    sandbox.admin.advance(30 * 3600)  # default timings: out for delivery at 26 h, brought back at 29 h
    assert carrier.track([number])[0].status is S.ABSENT
    sandbox.admin.advance(3 * DAY)
    result = carrier.track([number])[0]
    seen = [e.status for e in result.events]
    assert S.ABSENT in seen and S.REDELIVERY in seen
    assert seen.index(S.ABSENT) < seen.index(S.REDELIVERY) < seen.index(S.DELIVERED)
    assert seen.count(S.OUT_FOR_DELIVERY) == 2
    assert result.status is S.DELIVERED


def test_forced_undeliverable_parcel_fails_then_returns(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(Sagawa, sandbox)
    number = carrier.create_shipment(make_parcel()).tracking_number
    sandbox.admin.force(number, "failed")
    sandbox.admin.advance(10 * DAY)
    seen = statuses(carrier, number)
    assert seen[-2:] == [S.FAILED, S.RETURNED]
    assert S.DELIVERED not in seen


def test_forced_loss(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(JapanPost, sandbox)
    number = carrier.create_shipment(make_parcel()).tracking_number
    sandbox.admin.advance(12 * 3600)  # picked up and moving
    sandbox.admin.force(number, "lost")
    sandbox.admin.advance(10 * DAY)
    result = carrier.track([number])[0]
    assert result.status is S.LOST
    assert S.DELIVERED not in [e.status for e in result.events]


def test_forced_outcome_at_once_shows_on_the_next_query(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(Yamato, sandbox)
    number = carrier.create_shipment(make_parcel()).tracking_number
    sandbox.admin.force(number, "delivered", at_once=True)
    assert carrier.track([number])[0].status is S.DELIVERED


def test_cancel_before_pickup_and_not_after(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(Yamato, sandbox)
    first = carrier.create_shipment(make_parcel()).tracking_number
    carrier.cancel(first)
    assert carrier.track([first])[0].status is S.CANCELLED
    second = carrier.create_shipment(make_parcel()).tracking_number
    sandbox.admin.advance(DAY)
    with pytest.raises(CannotCancel):
        carrier.cancel(second)


def test_cancel_unknown_number(sandbox: RunningCarrierSandbox) -> None:
    with pytest.raises(UnknownShipment):
        adapter(Sagawa, sandbox).cancel("123456789013")


def test_tracking_many_numbers_is_chunked_and_keeps_order(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(Sagawa, sandbox)
    numbers = [carrier.create_shipment(make_parcel(), with_label=False).tracking_number for _ in range(23)]
    numbers.insert(5, "123456789013")  # valid check digit, never issued
    results = carrier.track(numbers)
    assert [r.tracking_number for r in results] == numbers
    assert not results[5].found and results[5].message == "該当なし"
    assert all(r.found for i, r in enumerate(results) if i != 5)


def test_numbers_are_unique_per_carrier(sandbox: RunningCarrierSandbox) -> None:
    carrier = adapter(JapanPost, sandbox)
    numbers = {carrier.create_shipment(make_parcel(), with_label=False).tracking_number for _ in range(50)}
    assert len(numbers) == 50


def test_tracking_validates_numbers_before_asking(sandbox: RunningCarrierSandbox) -> None:
    with pytest.raises(Invalid, match="needs 3"):
        adapter(Yamato, sandbox).track(["4444-1375-8704"])


def test_refused_request_is_carrier_rejected(sandbox: RunningCarrierSandbox) -> None:
    no_phone = Party(RECIPIENT.name, RECIPIENT.postal_code, RECIPIENT.prefecture, RECIPIENT.address_line1)
    with pytest.raises(CarrierRejected, match=r"consignee\.phone"):
        adapter(Yamato, sandbox).create_shipment(make_parcel(recipient=no_phone))


def test_injected_503_is_carrier_unavailable(sandbox: RunningCarrierSandbox) -> None:
    sandbox.admin.fail_next(1)
    with pytest.raises(CarrierUnavailable) as exc:
        adapter(Yamato, sandbox).create_shipment(make_parcel())
    assert exc.value.details["http_status"] == 503


def test_unreachable_carrier_is_carrier_unavailable() -> None:
    carrier = Yamato("http://127.0.0.1:9", timeout=1)
    with pytest.raises(CarrierUnavailable, match="could not be reached"):
        carrier.create_shipment(make_parcel())


def test_built_in_carriers_do_not_take_typed_numbers(sandbox: RunningCarrierSandbox) -> None:
    with pytest.raises(Invalid, match="ManualCarrier"):
        adapter(Yamato, sandbox).create_shipment(make_parcel(tracking_number="444413758703"))


def test_time_slot_is_sent_as_the_carriers_code_and_yamato_books_the_next_slot(
    sandbox: RunningCarrierSandbox,
) -> None:
    shipment = adapter(Yamato, sandbox).create_shipment(make_parcel(time_slot=time_slot("1214")))
    assert shipment.label.time_slot == time_slot("14-16")
    assert sandbox.admin.parcel(shipment.tracking_number)["request"]["time_slot"] == "1416"
    sagawa = adapter(Sagawa, sandbox).create_shipment(make_parcel(time_slot=time_slot("午前中"), cod_amount=5400))
    request = sandbox.admin.parcel(sagawa.tracking_number)["request"]
    assert request["time_slot"] == "01" and request["cod_amount"] == 5400


# -------------------------------------------------------------------------------------------- manual entry


def test_manual_entry_validates_7dr_and_names_the_expected_check_digit() -> None:
    with pytest.raises(Invalid) as exc:
        ManualCarrier("1001").create_shipment(make_parcel(tracking_number="5125-4751-4330"))
    assert exc.value.details["expected_check_digit"] == 4
    shipment = ManualCarrier("1002").create_shipment(make_parcel(tracking_number="５１２５-４７５１-４３３４"))
    assert shipment.tracking_number == "512547514334"
    assert shipment.label_pdf.startswith(b"%PDF")


@pytest.mark.parametrize(("code", "number", "stored"), [
    ("1003", "4055-4842-4886", "405548424886"),
    ("1003", "EE123456785JP", "EE123456785JP"),
    ("1017", "ee 473124829 jp", "EE473124829JP"),
    ("1004", "SEINO-0001", "SEINO-0001"),  # no known rule: free text
    ("1031", " 98765 ", "98765"),
])  # fmt: skip
def test_manual_entry_rules_per_carrier(code: str, number: str, stored: str) -> None:
    assert validate_number(code, number) == stored


def test_manual_entry_rejects_bad_numbers() -> None:
    for code, number in [("1017", "EE123456784JP"), ("1003", "405548424887"), ("1004", "x" * 121), ("1004", " ")]:
        with pytest.raises(Invalid):
            validate_number(code, number)


def test_manual_entry_needs_a_number_and_a_known_code() -> None:
    with pytest.raises(Invalid, match="Enter the"):
        ManualCarrier("1004").create_shipment(make_parcel())
    with pytest.raises(Invalid, match="1000–1031"):
        ManualCarrier("1032")


def test_manual_track_gives_the_public_page() -> None:
    result = ManualCarrier("1001").track(["444413758703"])[0]
    assert result.status is S.UNKNOWN
    assert result.tracking_url and "444413758703" in result.tracking_url


def test_carrier_adapter_picks_built_in_or_manual() -> None:
    assert isinstance(carrier_adapter("1001", base_url="http://x"), Yamato)
    assert isinstance(carrier_adapter("1003", base_url="http://x"), JapanPost)
    assert isinstance(carrier_adapter("1001", manual=True), ManualCarrier)
    other = carrier_adapter("1015")
    assert isinstance(other, ManualCarrier) and other.carrier.name_ja == "NXトランスポート"


def test_slot_mapping() -> None:
    assert slot_for_carrier("1001", time_slot("20-21")) == time_slot("19-21")
    assert slot_for_carrier("1003", time_slot("20-21")) == time_slot("20-21")
    assert slot_for_carrier("1001", None) is None
    with pytest.raises(Invalid):
        time_slot("25-26")


def test_party_from_an_order_address() -> None:
    address = Address("山田", "太郎", "ヤマダ", "タロウ", "530-0001", "大阪府", "大阪市北区梅田3-1-1", None,
                      "0612345678")
    party = Party.from_address(address)
    assert party.name == "山田　太郎" and party.prefecture == "大阪府" and party.phone == "0612345678"


def test_invalid_parcels_are_refused_before_calling_the_carrier() -> None:
    carrier = Yamato("http://127.0.0.1:9")
    with pytest.raises(Invalid, match="positive number"):
        carrier.create_shipment(make_parcel(cod_amount=0))
    with pytest.raises(Invalid, match="recipient"):
        carrier.create_shipment(make_parcel(recipient=Party("", "530-0001", "大阪府", "")))


def test_a_non_json_refusal_is_carrier_rejected_without_echoing_the_page() -> None:
    # A proxy in front of a carrier answers 400 with an HTML page that echoes the request (the recipient).
    def echo_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"<html>bad: {request.content.decode()}</html>")

    echo = httpx.MockTransport(echo_page)
    carrier = Yamato("http://carrier.invalid", client=httpx.Client(transport=echo, base_url="http://carrier.invalid"))
    with pytest.raises(CarrierRejected) as exc:
        carrier.create_shipment(make_parcel())
    assert "HTTP 400" in exc.value.message
    assert "bad:" not in str(exc.value) and "bad:" not in str(exc.value.details)  # nothing of the page is kept
