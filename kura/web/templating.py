"""Jinja2 for Kura's pages: translations, yen and JST filters, and the context every page needs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kura import i18n
from kura.web.deps import csrf_token

JST = ZoneInfo("Asia/Tokyo")
TEMPLATES_DIR = Path(__file__).parent / "templates"

NAV = (
    ("dashboard", "/", "Dashboard"),
    ("products", "/products", "Products"),
    ("inventory", "/inventory", "Inventory"),
    ("orders", "/orders", "Orders"),
    ("integrations", "/integrations", "Integrations"),
    ("settings", "/settings", "Settings"),
)


def yen(amount: int | None) -> str:
    """Integer yen for display; ints only, as Babel would silently round a fraction."""
    if amount is None:
        return "—"
    return format_currency(int(amount), "JPY", locale="ja_JP" if i18n.current_locale.get() == "ja" else "en_US")


def number(value: int | None) -> str:
    return "—" if value is None else format_decimal(value, locale="ja_JP")


def jst(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC and shown in Japan time."""
    if value is None:
        return "—"
    return value.astimezone(JST).strftime(fmt)


env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    auto_reload=False,
)
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
env.filters.update(yen=yen, number=number, jst=jst)
env.globals.update(nav=NAV)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context.update(
        request=request,
        csrf_token=csrf_token(request),
        locale=i18n.current_locale.get(),
        locales=i18n.LOCALES,
        path=request.url.path,
    )
    html = env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code)
