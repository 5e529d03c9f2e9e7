"""Fixtures for shipping: a parcel with a Japanese sender and recipient, and a carrier sandbox over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from carriers_sandbox.testing import RunningCarrierSandbox, running_carrier_sandbox
from kura.shipping.carriers import Parcel, Party, time_slot

SENDER = Party("株式会社くら商店", "150-0001", "東京都", "渋谷区神宮前1-2-3", "くらビル5F", "0312345678")
RECIPIENT = Party("山田　太郎", "530-0001", "大阪府", "大阪市北区梅田3丁目1番1号", "梅田タワー2501号室", "09012345678")


def make_parcel(**changes: Any) -> Parcel:
    parcel = Parcel(
        reference="123456-20250602-0000000001", sender=SENDER, recipient=RECIPIENT, description="緑茶 3箱",
        time_slot=time_slot("14-16"), delivery_date=dt.date(2025, 6, 4), ship_date=dt.date(2025, 6, 2),
    )
    return replace(parcel, **changes)


@pytest.fixture
def parcel() -> Parcel:
    return make_parcel()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningCarrierSandbox]:
    with running_carrier_sandbox() as running:
        yield running


def pdf_text(pdf: bytes) -> bytes:
    """The PDF with its Flate streams inflated, so tests can look for what was drawn."""
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = match.group(1).strip()
        try:
            if data.endswith(b"~>"):  # reportlab writes ASCII85 around the Flate data
                data = base64.a85decode(data, adobe=True)
            out.append(zlib.decompress(data))
        except (ValueError, zlib.error):
            pass
    return b"\n".join(out)


def media_boxes(pdf: bytes) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in m.group(1).split())
            for m in re.finditer(rb"/MediaBox\s*\[\s*([\d.\s-]+)\]", pdf)]
