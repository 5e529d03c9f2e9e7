"""One page of a list plus the total count, the shape every list service returns to the API and pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kura.errors import Invalid

T = TypeVar("T")

MAX_LIMIT = 500

# A SELECT of any columns, for the filter helpers the list services share between their count and page queries.
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


def check_window(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit", f"limit must be between 1 and {MAX_LIMIT}; got {limit}.")
    if offset < 0:
        raise Invalid("offset", f"offset must be 0 or more; got {offset}.")


def count(session: Session, stmt: AnySelect) -> int:
    """Counts the rows of a filtered id query (kept narrow so the database can count from an index)."""
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
