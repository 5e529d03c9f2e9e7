"""What every API area shares: the page envelope, bounded ids and numbers, text without NUL, role dependencies."""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query
from pydantic import AfterValidator, BaseModel, Field, StrictInt

from kura.auth.models import Role, User
from kura.errors import Invalid
from kura.paging import MAX_LIMIT
from kura.web.deps import api_user, require_role

T = TypeVar("T")

# Bounds that keep bad numbers out of the database (PostgreSQL refuses what does not fit its columns with an
# error, not a message): ids are BIGINT, quantities INTEGER, money BIGINT yen.
MAX_ID = 2**63 - 1
MAX_QUANTITY = 1_000_000_000
MAX_YEN = 10**12


def no_nul(value: str | None) -> str | None:
    # PostgreSQL text can't hold NUL; refuse it here so it is a 422 and not a database error.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def no_nul_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and "\\u0000" in json.dumps(value):
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(no_nul_json)]
OptText = Annotated[str | None, AfterValidator(no_nul)]
Yen = Annotated[StrictInt, Field(ge=0, le=MAX_YEN, description="Integer yen.")]
Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1–{MAX_LIMIT}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")]
QueryText = Annotated[str | None, Query(max_length=200), AfterValidator(no_nul)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

# Every signed-in role reads; operators and admins write; a few destructive or configuring calls need admin.
Reader = Annotated[User, Depends(api_user)]
Writer = Annotated[User, Depends(require_role(Role.operator))]
Admin = Annotated[User, Depends(require_role(Role.admin))]


class PageOut(BaseModel, Generic[T]):
    """One page of a list: the items, the total that match the filters, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorOut(BaseModel):
    """Every error: a stable `code`, a `message` that says what to fix, and sometimes `details`."""

    code: str
    message: str
    details: dict[str, object] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The error responses of an endpoint, for the OpenAPI page."""
    return {status: {"model": ErrorOut} for status in statuses}


def changes(body: BaseModel, *, nullable: frozenset[str] = frozenset()) -> dict[str, object]:
    """The fields a PATCH body sets; an explicit null is refused where the field can't be empty."""
    given = body.model_dump(exclude_unset=True)
    for key, value in given.items():
        if value is None and key not in nullable:
            raise Invalid(key, f"{key} can't be null; leave it out to keep the current value.")
    if not given:
        raise Invalid("body", "Nothing to change: give at least one field.")
    return given
