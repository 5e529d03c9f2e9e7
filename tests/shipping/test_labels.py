"""Labels: a one-page A6 PDF with the tracking number as text and barcode; bulk prints one label a page."""

from __future__ import annotations

import pytest
from reportlab.lib.pagesizes import A4, A6

from kura.shipping.carriers import ManualCarrier, Parcel, time_slot
from kura.shipping.labels import Label, render_label, render_labels
from tests.shipping.conftest import make_parcel, media_boxes, pdf_text


def _label(parcel: Parcel, number: str = "444413758703", code: str = "1001") -> Label:
    return Label(code, number, parcel, time_slot("14-16"))


def test_label_is_one_a6_page_with_the_tracking_number_printed(parcel: Parcel) -> None:
    pdf = render_label(_label(parcel))
    assert pdf.startswith(b"%PDF-")
    boxes = media_boxes(pdf)
    assert len(boxes) == 1
    assert boxes[0] == pytest.approx((0, 0, *A6), abs=0.01)
    text = pdf_text(pdf)
    assert b"4444-1375-8703" in text


def test_label_uses_the_japanese_cid_font_without_embedding_it(parcel: Parcel) -> None:
    pdf = render_label(_label(parcel))
    assert b"HeiseiKakuGo-W5" in pdf
    assert b"/FontFile" not in pdf  # nothing downloaded or embedded: the viewer supplies the glyphs


def test_cash_on_delivery_adds_the_amount(parcel: Parcel) -> None:
    plain = pdf_text(render_label(_label(parcel)))
    cod = pdf_text(render_label(_label(make_parcel(cod_amount=12345))))
    assert len(cod) > len(plain)
    # the amount's digits are drawn in the CID font as 2-byte codes; the label is one more filled box
    assert cod.count(b" re") > plain.count(b" re")


def test_bulk_print_has_one_page_per_label(parcel: Parcel) -> None:
    numbers = ["123456789013", "444413758703", "512547514334", "405548424886", "200961185434"]
    pdf = render_labels([_label(parcel, n) for n in numbers])
    assert len(media_boxes(pdf)) == len(numbers)
    assert b"/Count 5 " in pdf
    text = pdf_text(pdf)
    for n in numbers:
        assert f"{n[:4]}-{n[4:8]}-{n[8:]}".encode() in text


def test_other_page_sizes_scale_the_label(parcel: Parcel) -> None:
    assert media_boxes(render_label(_label(parcel), "A4"))[0] == pytest.approx((0, 0, *A4), abs=0.01)
    assert media_boxes(render_label(_label(parcel), (288.0, 432.0)))[0] == pytest.approx((0, 0, 288, 432))


def test_numbers_that_are_not_digits_get_a_code128_barcode(parcel: Parcel) -> None:
    pdf = render_label(_label(parcel, "EE123456785JP", "1017"))
    assert b"EE123456785JP" in pdf_text(pdf)


def test_no_labels_is_an_error() -> None:
    with pytest.raises(ValueError):
        render_labels([])


def test_manual_carrier_label_shows_the_shop_written_carrier_name(parcel: Parcel) -> None:
    shipment = ManualCarrier("1000", name="ABC").create_shipment(make_parcel(tracking_number="XYZ-1"))
    assert shipment.label.carrier_name == "ABC"
    assert b"XYZ-1" in pdf_text(shipment.label_pdf)
