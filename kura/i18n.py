"""Japanese and English for pages and messages: Babel catalogs read at start, the locale per request."""

from __future__ import annotations

import contextvars
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LOCALE_DIR = Path(__file__).parent / "locale"

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("kura_locale", default=DEFAULT_LOCALE)


@cache
def _catalog(locale: str) -> dict[str, str]:
    """msgid → msgstr for one locale, merged from every catalog of that locale (one .po file per area).
    English is the source language and needs no catalog."""
    merged: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        merged.update({m.id: str(m.string) for m in catalog if isinstance(m.id, str) and m.id and m.string})
    return merged


def gettext(message: str) -> str:
    return _catalog(current_locale.get()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The first supported language in an Accept-Language header, by quality."""
    if not accept_language:
        return default
    choices: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        choices.append((weight, lang.strip().lower()[:2]))
    for _weight, lang in sorted(choices, key=lambda c: -c[0]):
        if lang in LOCALES:
            return lang
    return default
