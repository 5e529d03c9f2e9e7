"""Shipping labels as PDF: one label per page (A6 by default), with the tracking number as an NW-7 barcode,
the recipient and sender in Japanese, the time slot and the cash-on-delivery amount."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final

from reportlab import rl_config
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.common import Codabar
from reportlab.lib.pagesizes import A4, A5, A6
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from kura.channels.rakuten.statuses import CARRIERS
from kura.shipping.tracking import display_number

if TYPE_CHECKING:
    from kura.shipping.carriers import Parcel, Party, TimeSlot

GOTHIC: Final = "HeiseiKakuGo-W5"  # CID fonts: the viewer supplies the glyphs, nothing is embedded
MINCHO: Final = "HeiseiMin-W3"
LATIN: Final = "Helvetica"
LATIN_BOLD: Final = "Helvetica-Bold"
PAGE_SIZES: Final[dict[str, tuple[float, float]]] = {"A6": A6, "A5": A5, "A4": A4}
_W, _H = A6  # the layout is drawn in A6 points and scaled to other page sizes
_M = 5 * mm


@dataclass(frozen=True)
class Label:
    """Everything printed on one label."""

    carrier_code: str
    tracking_number: str
    parcel: Parcel
    time_slot: TimeSlot | None = None
    carrier_name: str | None = None  # default: the Rakuten carrier table's Japanese name


_BINARY_LOCK = threading.Lock()


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Plain Flate streams instead of reportlab's default ASCII85 on top: a quarter smaller and faster to
    write (ASCII85 is pure Python here). The switch is global in reportlab, hence the lock and the restore."""
    with _BINARY_LOCK:
        saved = rl_config.useA85
        rl_config.useA85 = 0
        try:
            yield
        finally:
            rl_config.useA85 = saved


@cache
def _register_fonts() -> None:
    for name in (GOTHIC, MINCHO):
        pdfmetrics.registerFont(UnicodeCIDFont(name))


def render_label(label: Label, size: str | tuple[float, float] = "A6") -> bytes:
    """One label as a one-page PDF."""
    return render_labels([label], size)


def render_labels(labels: Iterable[Label], size: str | tuple[float, float] = "A6") -> bytes:
    """Many labels as one PDF, one label per page, for a bulk print."""
    _register_fonts()
    with _binary_streams():
        return _render(labels, PAGE_SIZES[size.upper()] if isinstance(size, str) else size)


def _render(labels: Iterable[Label], page: tuple[float, float]) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=page, pageCompression=1)
    canvas.setAuthor("Kura")
    canvas.setTitle("送り状 shipping labels")
    scale = min(page[0] / _W, page[1] / _H)
    count = 0
    for label in labels:
        canvas.saveState()
        canvas.translate((page[0] - _W * scale) / 2, (page[1] - _H * scale) / 2)
        canvas.scale(scale, scale)
        _draw(canvas, label)
        canvas.restoreState()
        canvas.showPage()
        count += 1
    if count == 0:
        raise ValueError("no labels to render")
    canvas.save()
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- drawing


def _fit(text: str, font: str, size: float, width: float, smallest: float = 6.0) -> float:
    """The largest font size ≤ `size` at which `text` fits in `width`."""
    actual = pdfmetrics.stringWidth(text, font, size)
    return size if actual <= width else max(smallest, size * width / actual)


def _wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Breaks text into lines by width, character by character (Japanese has no spaces to break at)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if pdfmetrics.stringWidth(line + char, font, size) > width and line:
            lines.append(line)
            line = ""
        line += char
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], "".join(lines[max_lines - 1 :])]  # the last line shrinks to fit
    return lines


def _text(canvas: Canvas, x: float, y: float, text: str, font: str, size: float, width: float | None = None) -> None:
    canvas.setFont(font, _fit(text, font, size, width) if width else size)
    canvas.drawString(x, y, text)


def _box(canvas: Canvas, y_top: float, height: float, title: str) -> float:
    """A framed section with a small title tab; returns the y of its top inner line."""
    canvas.rect(_M, y_top - height, _W - 2 * _M, height, stroke=1, fill=0)
    canvas.setFont(GOTHIC, 7)
    canvas.drawString(_M + 3, y_top - 9, title)
    return y_top - 9


def _barcode(canvas: Canvas, number: str, y: float, height: float) -> None:
    """NW-7 (Codabar) with start/stop A for digit numbers, as Japanese slips carry; Code 128 otherwise."""
    width = _W - 2 * _M - 20
    if number.isdigit():
        units = Codabar(f"A{number}A", barWidth=1, ratio=2.5, quiet=0).width
        symbol: Codabar | Code128 = Codabar(f"A{number}A", barWidth=width / units, ratio=2.5, quiet=0,
                                            barHeight=height)  # fmt: skip
    else:
        units = Code128(number, barWidth=1, quiet=0).width
        symbol = Code128(number, barWidth=width / units, quiet=0, barHeight=height)
    symbol.drawOn(canvas, (_W - symbol.width) / 2, y)


def _party(canvas: Canvas, party: Party, y: float, big: bool) -> None:
    inner = _W - 2 * _M - 10
    x = _M + 5
    size = 11 if big else 8
    y -= size + 3
    _text(canvas, x, y, f"〒{party.postal_code}", GOTHIC, size)
    address = f"{party.prefecture}{party.address_line1}"
    lines = _wrap(address, GOTHIC, size, inner, 2)
    if party.address_line2:
        lines += _wrap(party.address_line2, GOTHIC, size, inner, 1)
    for line in lines:
        y -= size + 2
        _text(canvas, x, y, line, GOTHIC, size, inner)
    if party.company:
        y -= size + 2
        _text(canvas, x, y, party.company, GOTHIC, size - 1, inner)
    name_size = 16 if big else 10
    y -= name_size + 4
    _text(canvas, x, y, f"{party.name}　様" if big else party.name, GOTHIC, name_size, inner)
    if party.phone:
        y -= size + 2
        _text(canvas, x, y, f"TEL {_phone(party.phone)}", GOTHIC, size - 1)


def _phone(digits: str) -> str:
    """0312345678 → 03-1234-5678 style grouping for reading; other forms unchanged."""
    if digits.isdigit() and len(digits) == 11:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if digits.isdigit() and len(digits) == 10:
        return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}" if digits[:2] in ("03", "06") else \
            f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"  # fmt: skip
    return digits


def _date(value: dt.date | None) -> str:
    return value.strftime("%Y/%m/%d") if value else "指定なし"


def _draw(canvas: Canvas, label: Label) -> None:
    parcel = label.parcel
    carrier = CARRIERS.get(label.carrier_code)
    name = label.carrier_name or (carrier.name_ja if carrier else label.carrier_code)
    inner = _W - 2 * _M
    y = _H - _M

    # Header: carrier, ship date
    _text(canvas, _M, y - 15, name, GOTHIC, 15, inner * 0.6)
    canvas.setFont(GOTHIC, 7)
    canvas.drawRightString(_W - _M, y - 7, f"出荷日 {_date(parcel.ship_date)}")
    canvas.drawRightString(_W - _M, y - 16, f"楽天配送会社コード {label.carrier_code}")
    y -= 22

    # Tracking number: barcode and human-readable digits
    canvas.setFont(GOTHIC, 7)
    canvas.drawString(_M, y - 8, "お問い合せ送り状番号")
    _barcode(canvas, label.tracking_number, y - 50, 38)
    _text(canvas, _M, y - 64, display_number(label.tracking_number), LATIN_BOLD, 15, inner)
    y -= 72

    # Recipient (big) and sender (small)
    _box(canvas, y, 114, "お届け先")
    _party(canvas, parcel.recipient, y - 6, big=True)
    y -= 114
    _box(canvas, y, 70, "ご依頼主")
    _party(canvas, parcel.sender, y - 6, big=False)
    y -= 70

    # Delivery date, time slot, pieces
    cell = inner / 3
    for i, (title, value) in enumerate((
        ("お届け予定日", _date(parcel.delivery_date)),
        ("時間帯指定", label.time_slot.label_ja if label.time_slot else "指定なし"),
        ("個数", f"{parcel.pieces}個口"),
    )):  # fmt: skip
        x = _M + i * cell
        canvas.rect(x, y - 36, cell, 36, stroke=1, fill=0)
        canvas.setFont(GOTHIC, 7)
        canvas.drawString(x + 3, y - 9, title)
        _text(canvas, x + 4, y - 27, value, GOTHIC, 11, cell - 8)
    y -= 36

    # Description
    canvas.rect(_M, y - 18, inner, 18, stroke=1, fill=0)
    _text(canvas, _M + 3, y - 12, f"品名　{parcel.description or '－'}", GOTHIC, 8, inner - 6)
    y -= 18

    # Cash on delivery: white on black so nobody hands the parcel over without collecting
    if parcel.cod_amount:
        canvas.rect(_M, y - 30, inner, 28, stroke=0, fill=1)
        canvas.setFillGray(1)
        _text(canvas, _M + 6, y - 21, "代金引換", GOTHIC, 13)
        _text(canvas, _M + inner * 0.35, y - 22, f"¥{parcel.cod_amount:,}（税込）", GOTHIC, 16, inner * 0.62)
        canvas.setFillGray(0)
    y -= 32

    # Footer: the shop's reference
    _text(canvas, _M, max(y - 10, _M), f"お客様管理番号 {parcel.reference}", GOTHIC, 8, inner)
