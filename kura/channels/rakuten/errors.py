"""The RMS client's errors: one small tree, and the helpers that map HTTP outcomes onto it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from kura.channels.rakuten.privacy import mask_personal

_MAX_TEXT = 2000


class RmsError(Exception):
    """An RMS call did not do what was asked."""

    def __init__(
        self,
        message: str,
        *,
        function: str,
        status: int | None = None,
        codes: Sequence[str] = (),
        response: Any = None,
        order_number: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.function = function
        self.status = status
        self.codes = tuple(codes)
        self.response = mask_personal(response)
        self.order_number = order_number

    @property
    def code(self) -> str | None:
        """The first RMS message code (`IE0003`, `ORDER_EXT_API_..._ERROR_011`), if RMS sent one."""
        return self.codes[0] if self.codes else None

    def __str__(self) -> str:
        where = f"{self.function}" + (f" HTTP {self.status}" if self.status else "")
        codes = f" [{', '.join(self.codes)}]" if self.codes else ""
        order = f" order {self.order_number}" if self.order_number else ""
        return f"{where}{codes}{order}: {self.message}"


class NotFound(RmsError):
    """RMS has no such item, SKU inventory record or order (HTTP 404, GE0014)."""


class Retryable(RmsError):
    """A passing failure (network, timeout, 429, 5xx, maintenance 503): the same call may succeed later."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, maybe_applied: bool = False, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        """True when the request may have reached RMS (read timeout, 500): a write may have happened."""


class Permanent(RmsError):
    """RMS refused the request as it stands (validation, business rule, 4xx): fix the data, then retry."""


class InvalidRequest(Permanent):
    """Kura refused to send a request RMS would reject (too many records, bad argument): fix the caller."""


class Suspended(RmsError):
    """RMS refused the credentials (401: wrong or expired licence key, function not enabled): fix the store."""


# Gateway codes seen in 401/403 bodies (reference §1.3) and what the shop owner must do.
_GATEWAY_HINTS: dict[str, str] = {
    "ES01-01": "the licence key or service secret is wrong or the licence key has expired; "
    "issue a new licence key in RMS and enter it in the store settings",
    "ES04-01": "this API function is not enabled for the licence key; "
    "tick it in RMS (WEB APIサービス → 利用機能編集) and try again",
}
_SUSPENDED_HINT = (
    "RMS rejected the credentials (wrong key, expired licence key — keys last 90 days — or the function "
    "is not enabled in 利用機能編集); fix the store's keys, then resume its jobs"
)
# Item/Inventory codes that mean "try again later" although their status is 4xx.
_RETRYABLE_CODES = frozenset({"CE0001"})
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses after which RMS has certainly not applied the request.
_NOT_APPLIED_STATUSES = frozenset({429, 503})


_DIGITS = bytes(ord("0") if chr(i).isdigit() and i < 128 else ord(" ") for i in range(256))  # digits → 0, rest → space
_LONG_NUMBER = b"0" * 19


def parse_body(response: httpx.Response) -> Any:
    """The response body as JSON when it is JSON, else its text (shortened); never raises.

    orjson reads an items.search page several times faster than the standard decoder. It would read an integer
    beyond 64 bits as a float, so a body with a run of 19 digits or more (numbers or text) goes to the standard
    decoder, as does one orjson refuses (a body in another encoding than UTF-8)."""
    content = response.content
    if _LONG_NUMBER not in content.translate(_DIGITS):  # ~0.1 ms for a page; a regular expression took 1.4
        try:
            return orjson.loads(content)
        except ValueError:
            pass
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        try:
            return response.text[:_MAX_TEXT]
        except UnicodeDecodeError:
            return f"<{len(response.content)} bytes>"


def envelope_messages(body: Any) -> list[tuple[str, str, str | None]]:
    """(code, message, orderNumber) of the errors in any RMS error envelope.

    Understands `{"errors": [...]}` (ItemAPI/InventoryAPI), the Order API `MessageModelList` (only
    entries of type ERROR) and the gateway's `{"Results": {"errorCode", "message"}}`.
    """
    if not isinstance(body, Mapping):
        return []
    found: list[tuple[str, str, str | None]] = []
    for entry in body.get("errors") or []:
        if isinstance(entry, Mapping):
            path = (entry.get("metadata") or {}).get("propertyPath")
            text = str(entry.get("message") or "")
            if path and path not in text:
                text = f"{text} ({path})"
            found.append((str(entry.get("code") or ""), text, None))
    for entry in body.get("MessageModelList") or []:
        if isinstance(entry, Mapping) and entry.get("messageType") == "ERROR":
            found.append(
                (str(entry.get("messageCode") or ""), str(entry.get("message") or ""), entry.get("orderNumber"))
            )
    results = body.get("Results")
    if isinstance(results, Mapping) and results.get("errorCode"):
        found.append((str(results["errorCode"]), str(results.get("message") or ""), None))
    return found


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (either form the RFC allows), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def error_from_response(function: str, response: httpx.Response) -> RmsError | None:
    """The error a finished HTTP exchange stands for, or None for a 2xx.

    A 200 whose MessageModelList holds ERROR entries is *not* turned into an error here: which of
    those belong to one order and which fail the call is the calling function's decision.
    """
    status = response.status_code
    if status < 400:
        return None
    body = parse_body(response)
    found = envelope_messages(body)
    codes = [code for code, _, _ in found if code]
    detail = "; ".join(text for _, text, _ in found if text) or (body if isinstance(body, str) else "")
    detail = str(detail)[:500]
    common: dict[str, Any] = {"function": function, "status": status, "codes": codes, "response": body}

    gateway = next((code for code in codes if code in _GATEWAY_HINTS), None)
    if status == 401 or gateway is not None:
        hint = _GATEWAY_HINTS.get(gateway or "", _SUSPENDED_HINT)
        return Suspended(f"{detail or 'Unauthorised'} — {hint}.", **common)
    if status == 404:
        return NotFound(
            f"{detail or 'not found'} — RMS has no such record; if it was deleted in RMS, unlink it in Kura.",
            **common,
        )
    if status in _RETRYABLE_STATUSES or _RETRYABLE_CODES.intersection(codes):
        return Retryable(
            _retryable_message(status, detail),
            retry_after=retry_after_seconds(response),
            maybe_applied=status not in _NOT_APPLIED_STATUSES and not _RETRYABLE_CODES.intersection(codes),
            **common,
        )
    return Permanent(f"{detail or 'request rejected'} — correct the data named here and send it again.", **common)


def _retryable_message(status: int, detail: str) -> str:
    if status == 429:
        what = "RMS is throttling this store (too many requests)"
    elif status == 503:
        what = "RMS is unavailable or under maintenance"
    elif status >= 500:
        what = "RMS had an internal error"
    else:
        what = "RMS asked to try again later"
    return f"{what}{': ' + detail if detail else ''} — Kura retries on its own; nothing to do unless it persists."


def error_from_message(function: str, code: str, message: str, order_number: str | None) -> RmsError:
    """The error of one order inside an Order API reply (an ERROR entry of MessageModelList)."""
    return Permanent(
        f"{message or 'RMS refused this order'} — check the order's state in RMS, correct it, then retry it alone.",
        function=function,
        codes=[code] if code else [],
        order_number=order_number,
    )


@contextmanager
def translate_transport_errors(function: str) -> Iterator[None]:
    """Maps httpx's network and timeout errors onto Retryable (the original stays as __cause__)."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # The request never left Kura: any call, even a non-idempotent one, can be repeated.
        raise Retryable(
            f"could not reach RMS ({type(exc).__name__}) — Kura retries on its own; check the network if it persists.",
            function=function,
        ) from exc
    except httpx.TimeoutException as exc:
        raise Retryable(
            f"RMS did not answer in time ({type(exc).__name__}) — the request may have been applied; "
            "check RMS before repeating a write.",
            function=function,
            maybe_applied=True,
        ) from exc
    except httpx.TransportError as exc:
        raise Retryable(
            f"the connection to RMS failed ({type(exc).__name__}) — the request may have been applied; "
            "check RMS before repeating a write.",
            function=function,
            maybe_applied=True,
        ) from exc


def body_text(body: Any) -> str:
    """A short printable form of a masked body, for logs."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return text[:_MAX_TEXT]
