"""Helpers the pages share: reading form numbers, page windows for lists, the writer role, htmx partials."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from kura.auth.models import Role
from kura.errors import Invalid
from kura.web.deps import page_user, require_role

PER_PAGE = 50

# Pages that change data need an operator (or an admin); viewers only read.
page_writer = require_role(Role.operator, page_user)


def is_partial(request: Request, target: str) -> bool:
    """True when htmx asks for just the list part of a page (live filtering), not the whole page."""
    return bool(request.headers.get("hx-request")) and request.headers.get("hx-target") == target


def whole_number(value: Any, field: str, *, required: bool = True, minimum: int | None = None) -> int | None:
    """A whole number typed in a form: full-width digits, commas, ¥ and spaces are accepted."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip().replace(",", "").replace("¥", "").replace("円", "")
    if not text:
        if required:
            raise Invalid(field, f"{field} is needed (a whole number).")
        return None
    try:
        number = int(text)
    except ValueError:
        raise Invalid(field, f"{field} must be a whole number; got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise Invalid(field, f"{field} must be {minimum} or more; got {number}.")
    return number


def yes(value: Any) -> bool:
    return str(value or "").lower() in ("1", "on", "true", "yes")


def tri_state(value: str | None) -> bool | None:
    """'1' / '0' / '' from a filter select → True / False / None (any)."""
    return {"1": True, "0": False}.get(value or "")


@dataclass(frozen=True)
class Window:
    """Which rows a list page shows: 1-based page number, rows per page, and the total."""

    page: int
    per_page: int
    total: int = 0

    @classmethod
    def of(cls, page: int | None, per_page: int = PER_PAGE) -> Window:
        return cls(max(1, page or 1), per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def with_total(self, total: int) -> Window:
        return Window(self.page, self.per_page, total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last(self) -> int:
        return min(self.total, self.offset + self.per_page)


def query_with(params: dict[str, Any], **changes: Any) -> str:
    """A query string of the current filters with some changed (empty values dropped)."""
    merged = {**params, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})
