"""Kura's domain errors: each says what happened and what to do; the web layer maps them to HTTP."""

from __future__ import annotations

from typing import Any


class KuraError(Exception):
    """Base of every error a user can see. `code` is stable; `message` says what to fix."""

    code = "error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class Invalid(KuraError):
    """Input that breaks a rule; `field` names the input to fix."""

    code = "invalid"
    status = 422

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class NotFound(KuraError):
    """The thing asked for does not exist."""

    code = "not_found"
    status = 404


class StoreGone(NotFound):
    """The store a job or a request names does not exist (deleted meanwhile, or a stale kick)."""


class Conflict(KuraError):
    """The request clashes with what exists (a duplicate SKU, an order number already imported)."""

    code = "conflict"
    status = 409


class InsufficientStock(KuraError):
    """A change would take on-hand or available stock below zero."""

    code = "insufficient_stock"
    status = 409


class IllegalTransition(KuraError):
    """An order status change the status table does not allow."""

    code = "illegal_transition"
    status = 409


class Forbidden(KuraError):
    """The user's role does not allow this."""

    code = "forbidden"
    status = 403
