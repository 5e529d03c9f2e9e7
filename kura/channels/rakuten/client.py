"""HTTP access to Rakuten RMS: ESA auth, exact paths and content types, paging, limits, retries."""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache, cached_property
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx

from kura.channels.rakuten.errors import (
    InvalidRequest,
    NotFound,
    Permanent,
    Retryable,
    RmsError,
    error_from_message,
    error_from_response,
    parse_body,
    translate_transport_errors,
)
from kura.channels.rakuten.mapping import format_order_datetime, parse_rakuten_datetime
from kura.channels.rakuten.privacy import MASK, mask_personal
from kura.channels.rakuten.statuses import CARRIERS
from kura.channels.rakuten.windows import halve, search_windows
from kura.ratelimit import RateLimiter, RateLimitTimeout

log = logging.getLogger(__name__)


class _RedactLicenseKey(logging.Filter):
    """httpx logs every request URL at INFO; the expiry endpoint carries the licence key in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("licenseKey=" in str(a) for a in record.args):
            record.args = tuple(
                _LICENSE_IN_URL.sub("licenseKey=***", str(a)) if "licenseKey=" in str(a) else a for a in record.args
            )
        return True


_LICENSE_IN_URL = re.compile(r"licenseKey=[^&\s\"']*")
if not any(isinstance(f, _RedactLicenseKey) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactLicenseKey())

JsonObject = dict[str, Any]
"""An RMS JSON object, with Rakuten's field names; `mapping` turns it into Kura's dataclasses."""

InventoryMode = Literal["ABSOLUTE", "RELATIVE"]
DEFAULT_BASE_URL = "https://api.rms.rakuten.co.jp"


@dataclass(frozen=True)
class RmsSettings:
    """RMS facts the reference marks [T] or [U], or that Rakuten may change: all overridable."""

    get_order_version: int = 10  # 3–10 accepted; ≥7 carries SkuModelList; Rakuten asks for the newest
    inventory_api: str = "2.0"  # 2.0 sets quantity only; 2.1's upsert clears lead time/ship-from if omitted
    order_trailing_slash: bool = True  # documented form `/order/<function>/`
    order_content_type: str = "application/json; charset=utf-8"
    item_content_type: str = "application/json"
    order_search_page_size: int = 1000
    order_search_result_cap: int = 15000
    order_search_window_days: int = 63
    order_search_max_age_days: int = 730
    order_batch: int = 100  # getOrder, confirmOrder, updateOrderSubStatus, updateOrderShippingAsync
    shipping_rows_per_basket: int = 20  # [T]; a changelog once said 151
    tracking_number_max_chars: int = 120
    items_bulk_get_max: int = 50
    items_search_hits: int = 100
    items_search_max_offset: int = 10000
    inventory_bulk_get_max: int = 1000
    inventory_bulk_upsert_max: int = 400
    inventory_quantity_max: int = 99999
    max_backoff: float = 30.0  # seconds, cap of one exponential backoff step
    max_retry_after: float = 120.0  # a longer Retry-After is handed to the job layer instead of slept
    rate_limit_timeout: float | None = 120.0


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, made once per process: a job makes a client, and loading the CA bundle
    costs ~25 ms of CPU (a stock push job costs a few times that in all)."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the sync log keeps it. No credentials; the bodies are read with personal data
    masked (`request_body`, `response_body`, masked when first read; a log bounds them with privacy.masked_for_log)."""

    function: str
    method: str
    path: str
    status: int | None
    duration_ms: float
    attempt: int
    request: Any = field(repr=False)  # as sent and as answered: read them through the masked views below
    response: Any = field(repr=False)
    error: str | None = None

    @cached_property
    def request_body(self) -> Any:
        return mask_personal(self.request)

    @cached_property
    def response_body(self) -> Any:
        return mask_personal(self.response)


@dataclass(frozen=True)
class OrderMessage:
    """One MessageModelList entry of an Order API reply."""

    type: str
    code: str
    text: str
    order_number: str | None = None
    data_number: int | None = None
    shipping_detail_id: int | None = None
    request_id: str | None = None

    @property
    def is_error(self) -> bool:
        return self.type == "ERROR"

    @classmethod
    def from_rakuten(cls, m: Mapping[str, Any]) -> OrderMessage:
        return cls(
            type=str(m.get("messageType") or ""),
            code=str(m.get("messageCode") or ""),
            text=str(m.get("message") or ""),
            order_number=m.get("orderNumber"),
            data_number=m.get("dataNumber"),
            shipping_detail_id=m.get("shippingDetailId"),
            request_id=m.get("requestId"),
        )


@dataclass
class BatchResult:
    """Outcome of an Order API call over many orders: one bad order never fails the others."""

    messages: list[OrderMessage] = field(default_factory=list)
    failed: dict[str, RmsError] = field(default_factory=dict)

    def succeeded(self, order_numbers: Iterable[str]) -> list[str]:
        return [n for n in order_numbers if n not in self.failed]


@dataclass
class OrdersResult:
    """getOrder over any number of orders: OrderModels found, and per-order failures."""

    orders: list[JsonObject] = field(default_factory=list)
    failed: dict[str, RmsError] = field(default_factory=dict)
    messages: list[OrderMessage] = field(default_factory=list)


@dataclass(frozen=True)
class ItemSearchPage:
    num_found: int
    offset: int | None
    results: list[JsonObject]  # each {"item": {...}, "category"?, "review"?, "inventory"?}
    next_cursor_mark: str | None


@dataclass(frozen=True)
class OrderQuery:
    """searchOrder conditions. `extra` takes any other searchOrder field by its RMS name."""

    date_type: int
    start: datetime
    end: datetime
    progress: tuple[int, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderSearchPage:
    order_numbers: list[str]
    total_records: int
    total_pages: int
    page: int
    messages: list[OrderMessage]


@dataclass(frozen=True)
class InventoryUpdate:
    manage_number: str
    variant_id: str
    quantity: int
    mode: InventoryMode = "ABSOLUTE"


@dataclass(frozen=True)
class ShippingRow:
    """One shipping row. None leaves a field unchanged; "" clears it (reference §4.6)."""

    carrier_code: str | None = None
    tracking_number: str | None = None
    shipped_on: date | Literal[""] | None = None
    shipping_detail_id: int | None = None  # None adds a row; set updates or deletes that row
    delete: bool = False


@dataclass(frozen=True)
class BasketShipping:
    basket_id: int
    rows: Sequence[ShippingRow]


@dataclass(frozen=True)
class SubStatus:
    progress: int
    sub_status_id: int
    name: str
    sort_order: int | None


@dataclass(frozen=True)
class LicenseExpiry:
    expires_at: datetime | None
    raw: str | None


def esa_header(service_secret: str, license_key: str) -> str:
    """`ESA <Base64(serviceSecret:licenseKey)>`: plain Base64, no signature (reference §1.1)."""
    token = base64.b64encode(f"{service_secret}:{license_key}".encode("ascii")).decode("ascii")
    return f"ESA {token}"


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


class RmsClient:
    """One shop's RMS connection. Every method is one RMS function; errors come from `errors`."""

    def __init__(
        self,
        base_url: str,
        service_secret: str,
        license_key: str,
        *,
        store_key: str,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        settings: RmsSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not service_secret or not license_key:
            raise InvalidRequest("the store has no service secret or licence key; enter both", function="-")
        self.store_key = store_key
        self.settings = settings or RmsSettings()
        self._limiter = limiter
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._on_call = on_call
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._license_key = license_key  # only for the expiry endpoint's query string
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": esa_header(service_secret, license_key), "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
        )

    def __repr__(self) -> str:
        return f"RmsClient(store_key={self.store_key!r}, base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RmsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------------

    def _send(self, function: str, method: str, path: str, **kw: Any) -> Any:
        """One RMS call; returns the parsed body of the successful reply."""
        return self._exchange(function, method, path, **kw)[1]

    def _exchange(
        self,
        function: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        idempotent: bool = True,
        per_order_errors: bool = False,
    ) -> tuple[int, Any]:
        """One RMS call with rate limiting and retries: (status, parsed body) of the 2xx reply."""
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = content_type or self.settings.item_content_type
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_slot(function)
            started = time.perf_counter()
            response: httpx.Response | None = None
            error: RmsError | None = None
            try:
                with translate_transport_errors(function):
                    response = self._http.request(method, path, params=params, content=content, headers=headers)
            except Retryable as exc:
                error = exc
            finally:
                self._call_done(function)
            duration_ms = (time.perf_counter() - started) * 1000
            parsed = parse_body(response) if response is not None else None
            if response is not None:
                error = error_from_response(function, response)
                if error is not None and per_order_errors and _all_errors_name_orders(response.status_code, parsed):
                    error = None  # the caller files each order's error separately
            self._record(function, method, path, params, body, response, parsed, duration_ms, attempt, error)
            if error is None and response is not None:
                return response.status_code, parsed
            assert error is not None
            delay = self._retry_delay(error, attempt, idempotent)
            if delay is None:
                raise error
            log.info("retrying %s for store %s in %.2f s: %s", function, self.store_key, delay, error)
            self._sleep(delay)

    def _wait_for_slot(self, function: str) -> None:
        if self._limiter is None:
            return
        try:
            self._limiter.acquire(self.store_key, function, timeout=self.settings.rate_limit_timeout)
        except RateLimitTimeout as exc:
            raise Retryable(str(exc), function=function) from exc

    def _call_done(self, function: str) -> None:
        done = getattr(self._limiter, "done", None)  # test limiters may only acquire
        if done is not None:
            try:
                done(self.store_key, function)
            except Exception:  # the limiter's store is down: the next acquire will say so
                log.warning("could not record the answer of %s for store %s with the rate limiter", function,
                            self.store_key)

    def _retry_delay(self, error: RmsError, attempt: int, idempotent: bool) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise."""
        if not isinstance(error, Retryable) or attempt > self._max_retries:
            return None
        if error.maybe_applied and not idempotent:
            return None  # a repeated add/relative write could apply twice; the caller must check first
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.settings.max_retry_after else None
        ceiling = min(self.settings.max_backoff, self._backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)  # "full jitter"

    def _record(
        self,
        function: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        response: httpx.Response | None,
        parsed: Any,
        duration_ms: float,
        attempt: int,
        error: RmsError | None,
    ) -> None:
        status = response.status_code if response is not None else None
        log.debug("%s %s %s -> %s in %.0f ms (attempt %d)", function, method, path, status, duration_ms, attempt)
        if self._on_call is None:
            return
        shown_params = {k: (MASK if k == "licenseKey" else v) for k, v in mask_personal(dict(params or {})).items()}
        record = CallRecord(
            function=function,
            method=method,
            path=path + (f"?{urlencode(shown_params)}" if shown_params else ""),
            status=status,
            duration_ms=round(duration_ms, 1),
            attempt=attempt,
            request=body,
            response=parsed,
            error=str(error) if error else None,
        )
        try:
            self._on_call(record)
        except Exception:  # a broken log sink must not fail the call that was logged
            log.exception("on_call hook failed for %s", function)

    def _order(self, name: str, body: Any, *, idempotent: bool = True, per_order_errors: bool = False) -> Any:
        path = f"/es/2.0/order/{name}" + ("/" if self.settings.order_trailing_slash else "")
        return self._send(
            f"rpay.order.{name}",
            "POST",
            path,
            body=body,
            content_type=self.settings.order_content_type,
            idempotent=idempotent,
            per_order_errors=per_order_errors,
        )

    # --- ItemAPI 2.0 ------------------------------------------------------------------------------

    @staticmethod
    def _item_path(manage_number: str) -> str:
        return f"/es/2.0/items/manage-numbers/{quote(manage_number, safe='')}"

    def get_item(self, manage_number: str) -> JsonObject:
        """items.get: the item with its variants; NotFound if RMS has none."""
        item: JsonObject = self._send("items.get", "GET", self._item_path(manage_number))
        return item

    def upsert_item(self, manage_number: str, item: Mapping[str, Any]) -> bool:
        """items.upsert (full replace: unsent fields are cleared). True if RMS created the item."""
        status, _ = self._exchange("items.upsert", "PUT", self._item_path(manage_number), body=dict(item))
        return status == 201

    def patch_item(self, manage_number: str, changes: Mapping[str, Any]) -> None:
        """items.patch: only the fields sent change, but list fields are replaced whole."""
        self._send("items.patch", "PATCH", self._item_path(manage_number), body=dict(changes))

    def delete_item(self, manage_number: str) -> None:
        """items.delete."""
        self._send("items.delete", "DELETE", self._item_path(manage_number))

    def search_items(
        self,
        filters: Mapping[str, str | int | bool] | None = None,
        *,
        hits: int | None = None,
        offset: int | None = None,
        cursor_mark: str | None = None,
        sort_key: str | None = None,
        sort_order: Literal["asc", "desc"] | None = None,
    ) -> ItemSearchPage:
        """items.search: one page, by offset (≤10000) or by cursorMark (never both)."""
        hits = hits or self.settings.items_search_hits
        if not 1 <= hits <= self.settings.items_search_hits:
            raise InvalidRequest(f"hits must be 1–{self.settings.items_search_hits}", function="items.search")
        if cursor_mark is not None and (offset is not None or sort_key or sort_order):
            raise InvalidRequest("cursorMark excludes offset, sortKey and sortOrder", function="items.search")
        if offset is not None and not 0 <= offset <= self.settings.items_search_max_offset:
            raise InvalidRequest(
                f"offset must be 0–{self.settings.items_search_max_offset}; use iter_items() to read more",
                function="items.search",
            )
        params: dict[str, str] = {k: _query_value(v) for k, v in (filters or {}).items()}
        params["hits"] = str(hits)
        for key, value in (
            ("offset", offset),
            ("cursorMark", cursor_mark),
            ("sortKey", sort_key),
            ("sortOrder", sort_order),
        ):
            if value is not None:
                params[key] = str(value)
        data = self._send("items.search", "GET", "/es/2.0/items/search", params=params)
        return ItemSearchPage(
            num_found=int(data.get("numFound") or 0),
            offset=data.get("offset"),
            results=list(data.get("results") or []),
            next_cursor_mark=data.get("nextCursorMark"),
        )

    def iter_items(
        self, filters: Mapping[str, str | int | bool] | None = None, *, hits: int | None = None
    ) -> Iterator[JsonObject]:
        """Every items.search result, following cursorMark from `*` until it stops moving."""
        cursor = "*"
        while True:
            page = self.search_items(filters, hits=hits, cursor_mark=cursor)
            yield from page.results
            if not page.results or not page.next_cursor_mark or page.next_cursor_mark == cursor:
                return
            cursor = page.next_cursor_mark

    def bulk_get_items(self, manage_numbers: Iterable[str]) -> list[JsonObject]:
        """items.bulk.get in batches of ≤50 (duplicates dropped: RMS refuses them with IE1106)."""
        wanted = _unique(m.lower() for m in manage_numbers)
        found: list[JsonObject] = []
        for batch in _chunks(wanted, self.settings.items_bulk_get_max):
            data = self._send("items.bulk.get", "POST", "/es/2.0/items/bulk-get", body={"manageNumbers": list(batch)})
            found.extend(r.get("item", r) for r in data.get("results") or [])
        return found

    # --- InventoryAPI 2.0 / 2.1 -------------------------------------------------------------------

    def _inventory_path(self, manage_number: str, variant_id: str) -> str:
        return (
            f"/es/{self.settings.inventory_api}/inventories/manage-numbers/{quote(manage_number, safe='')}"
            f"/variants/{quote(variant_id, safe='')}"
        )

    def get_inventory(self, manage_number: str, variant_id: str) -> JsonObject:
        """inventories.variants.get: `{manageNumber, variantId, quantity, created, updated}`."""
        data: JsonObject = self._send(
            "inventories.variants.get", "GET", self._inventory_path(manage_number, variant_id)
        )
        return data

    def upsert_inventory(
        self, manage_number: str, variant_id: str, quantity: int, mode: InventoryMode = "ABSOLUTE"
    ) -> None:
        """inventories.variants.upsert. Prefer ABSOLUTE: a RELATIVE change is never retried blindly."""
        update = InventoryUpdate(manage_number, variant_id, quantity, mode)
        self._check_inventory_update(update, "inventories.variants.upsert")
        self._send(
            "inventories.variants.upsert",
            "PUT",
            self._inventory_path(manage_number, variant_id),
            body={"mode": mode, "quantity": quantity},
            idempotent=mode == "ABSOLUTE",
        )

    def delete_inventory(self, manage_number: str, variant_id: str) -> None:
        """inventories.variants.delete."""
        self._send("inventories.variants.delete", "DELETE", self._inventory_path(manage_number, variant_id))

    def bulk_get_inventories(self, keys: Iterable[tuple[str, str]]) -> list[JsonObject]:
        """inventories.bulk.get for (manageNumber, variantId) pairs, in batches of ≤1000."""
        pairs = list(dict.fromkeys((m.lower(), v) for m, v in keys))
        found: list[JsonObject] = []
        for batch in _chunks(pairs, self.settings.inventory_bulk_get_max):
            body = {"inventories": [{"manageNumber": m, "variantId": v} for m, v in batch]}
            data = self._send(
                "inventories.bulk.get",
                "POST",
                f"/es/{self.settings.inventory_api}/inventories/bulk-get",
                body=body,
            )
            found.extend(data.get("inventories") or [])
        return found

    def bulk_upsert_inventories(self, updates: Sequence[InventoryUpdate]) -> None:
        """inventories.bulk.upsert of ≤400 distinct SKUs; the caller batches (Kura sends ABSOLUTE)."""
        limit = self.settings.inventory_bulk_upsert_max
        function = "inventories.bulk.upsert"
        if not updates:
            raise InvalidRequest("no inventory updates to send", function=function)
        if len(updates) > limit:
            raise InvalidRequest(
                f"{len(updates)} inventory updates in one call; RMS takes at most {limit}: "
                f"send them in batches of {limit}",
                function=function,
            )
        seen: set[tuple[str, str]] = set()
        for update in updates:
            key = (update.manage_number.lower(), update.variant_id)
            if key in seen:
                raise InvalidRequest(
                    f"{key[0]}/{key[1]} appears twice in one bulk upsert (RMS IE1102); send one value per SKU",
                    function=function,
                )
            seen.add(key)
            self._check_inventory_update(update, function)
        body = {
            "inventories": [
                {"manageNumber": u.manage_number, "variantId": u.variant_id, "mode": u.mode, "quantity": u.quantity}
                for u in updates
            ]
        }
        self._send(
            function,
            "POST",
            f"/es/{self.settings.inventory_api}/inventories/bulk-upsert",
            body=body,
            idempotent=all(u.mode == "ABSOLUTE" for u in updates),
        )

    def _check_inventory_update(self, update: InventoryUpdate, function: str) -> None:
        top = self.settings.inventory_quantity_max
        if update.mode not in ("ABSOLUTE", "RELATIVE"):
            raise InvalidRequest(f"inventory mode must be ABSOLUTE or RELATIVE, not {update.mode!r}", function=function)
        bound = 0 if update.mode == "ABSOLUTE" else -top
        if not bound <= update.quantity <= top:
            raise InvalidRequest(
                f"quantity {update.quantity} for {update.manage_number}/{update.variant_id} is outside {bound}–{top}",
                function=function,
            )

    # --- RakutenPay Order API ---------------------------------------------------------------------

    def search_orders(self, query: OrderQuery, *, page: int = 1, page_size: int | None = None) -> OrderSearchPage:
        """searchOrder: one page of order numbers, oldest first. The window must be ≤63 days."""
        size = page_size or self.settings.order_search_page_size
        body: JsonObject = {
            **dict(query.extra),
            "dateType": query.date_type,
            "startDatetime": format_order_datetime(query.start),
            "endDatetime": format_order_datetime(query.end),
            "PaginationRequestModel": {
                "requestRecordsAmount": size,
                "requestPage": page,
                "SortModelList": [{"sortColumn": 1, "sortDirection": 1}],
            },
        }
        if query.progress:
            body["orderProgressList"] = list(query.progress)
        data = self._order("searchOrder", body)
        pagination = data.get("PaginationResponseModel") or {}
        return OrderSearchPage(
            order_numbers=list(data.get("orderNumberList") or []),
            total_records=int(pagination.get("totalRecordsAmount") or 0),
            total_pages=int(pagination.get("totalPages") or 0),
            page=int(pagination.get("requestPage") or page),
            messages=_messages(data),
        )

    def iter_order_numbers(self, query: OrderQuery, *, now: datetime | None = None) -> Iterator[str]:
        """Every order number of the query's range: ≤63-day windows, 1000 per page, and windows
        holding more than the 15,000 results RMS returns are halved until each fits."""
        s = self.settings
        windows = search_windows(
            query.start,
            query.end,
            now=now or datetime.now(UTC),
            max_days=s.order_search_window_days,
            max_age_days=s.order_search_max_age_days,
        )
        stack = list(reversed(windows))
        seen: set[str] = set()
        while stack:
            start, end = stack.pop()
            window = replace(query, start=start, end=end)
            first = self.search_orders(window)
            # `>=`, not `>`: whether totalRecordsAmount reports the true total or stops at the cap is
            # not documented (reference §4.3; [U]). A window reported at exactly the cap may hold more.
            if first.total_records >= s.order_search_result_cap:
                try:
                    stack.extend(reversed(halve(start, end)))
                except ValueError:
                    raise Permanent(
                        f"more than {s.order_search_result_cap} orders at {start.isoformat()}; "
                        "narrow the search with more conditions",
                        function="rpay.order.searchOrder",
                    ) from None
                continue
            for page in self._pages(window, first):
                for number in page.order_numbers:
                    if number not in seen:  # orders moving between pages while we read
                        seen.add(number)
                        yield number

    def _pages(self, window: OrderQuery, first: OrderSearchPage) -> Iterator[OrderSearchPage]:
        yield first
        for page in range(2, first.total_pages + 1):
            yield self.search_orders(window, page=page)

    def get_orders(self, order_numbers: Iterable[str], *, version: int | None = None) -> OrdersResult:
        """getOrder in batches of ≤100. Orders RMS reports an error for, or omits, land in `failed`."""
        wanted = _unique(order_numbers)
        result = OrdersResult()
        for batch in _chunks(wanted, self.settings.order_batch):
            data = self._order(
                "getOrder",
                {"orderNumberList": list(batch), "version": version or self.settings.get_order_version},
                per_order_errors=True,
            )
            result.messages.extend(_messages(data))
            result.failed.update(_order_failures("rpay.order.getOrder", data))
            orders = list(data.get("OrderModelList") or [])
            result.orders.extend(orders)
            returned = {o.get("orderNumber") for o in orders}
            for number in batch:
                if number not in returned and number not in result.failed:
                    result.failed[number] = NotFound(
                        "getOrder returned nothing for this order — check the number; RMS keeps orders 730 days.",
                        function="rpay.order.getOrder",
                        order_number=number,
                    )
        return result

    def confirm_orders(self, order_numbers: Sequence[str]) -> BatchResult:
        """confirmOrder (注文確認) for ≤100 orders in status 100."""
        numbers = self._order_batch(order_numbers, "confirmOrder")
        data = self._order("confirmOrder", {"orderNumberList": numbers}, idempotent=False, per_order_errors=True)
        return BatchResult(_messages(data), _order_failures("rpay.order.confirmOrder", data))

    def update_order_shipping(self, order_number: str, baskets: Sequence[BasketShipping]) -> list[OrderMessage]:
        """updateOrderShipping (shipping-completion report) for one order; one message per row sent."""
        body = {"orderNumber": order_number, "BasketidModelList": self._baskets(baskets)}
        only_known_rows = all(r.shipping_detail_id is not None for b in baskets for r in b.rows)
        data = self._order("updateOrderShipping", body, idempotent=only_known_rows, per_order_errors=True)
        failures = _order_failures("rpay.order.updateOrderShipping", data, default_order=order_number)
        if failures:
            raise failures.get(order_number) or next(iter(failures.values()))
        return _messages(data)

    def update_order_shipping_async(self, orders: Mapping[str, Sequence[BasketShipping]]) -> str:
        """updateOrderShippingAsync for ≤100 orders; returns the requestId to ask for results with."""
        self._order_batch(list(orders), "updateOrderShippingAsync")
        body = {
            "OrderShippingModelList": [
                {"orderNumber": number, "BasketidModelList": self._baskets(baskets)}
                for number, baskets in orders.items()
            ]
        }
        data = self._order("updateOrderShippingAsync", body, idempotent=False)
        messages = _messages(data)
        errors = [m for m in messages if m.is_error]
        if errors:  # validation failures come back as 200 without a requestId
            raise Permanent(
                "; ".join(m.text for m in errors) + " — correct the shipping data and send it again.",
                function="rpay.order.updateOrderShippingAsync",
                status=200,
                codes=[m.code for m in errors],
                response=data,
            )
        request_id = next((m.request_id for m in messages if m.request_id), None)
        if not request_id:
            raise Permanent(
                "RMS accepted the request but returned no requestId — check RMS before sending it again.",
                function="rpay.order.updateOrderShippingAsync",
                status=200,
                response=data,
            )
        return request_id

    def get_result_update_order_shipping_async(self, request_id: str) -> BatchResult:
        """getResultUpdateOrderShippingAsync: per-order outcome of an async shipping request."""
        data = self._order("getResultUpdateOrderShippingAsync", {"requestId": request_id})
        result = BatchResult(_messages(data))
        for entry in data.get("ResultShippingModelList") or []:
            number = entry.get("orderNumber")
            result.messages.extend(_messages(entry))
            result.failed.update(
                _order_failures("rpay.order.getResultUpdateOrderShippingAsync", entry, default_order=number)
            )
        return result

    def cancel_order(self, order_number: str, *, reason: int, restore_inventory: int = 0) -> OrderMessage:
        """cancelOrder (status 100/200/300). `reason` is a changeReasonDetailApply code (§4.7)."""
        return self._cancel("cancelOrder", order_number, reason, restore_inventory)

    def cancel_order_after_shipping(
        self, order_number: str, *, reason: int, restore_inventory: int = 0
    ) -> OrderMessage:
        """cancelOrderAfterShipping (status 500–800): applies and confirms the cancellation at once."""
        return self._cancel("cancelOrderAfterShipping", order_number, reason, restore_inventory)

    def _cancel(self, name: str, order_number: str, reason: int, restore_inventory: int) -> OrderMessage:
        if restore_inventory not in (0, 1, 2):
            raise InvalidRequest(
                "restore_inventory must be 0 (item setting), 1 (restore) or 2 (keep)", function=f"rpay.order.{name}"
            )
        body = {
            "orderNumber": order_number,
            "inventoryRestoreType": restore_inventory,
            "changeReasonDetailApply": reason,
        }
        # A refusal names the order (reference §4.2: per-order messages carry orderNumber), whether
        # RMS answers it with 200 or 400: it surfaces as that order's error either way.
        data = self._order(name, body, idempotent=False, per_order_errors=True)
        failures = _order_failures(f"rpay.order.{name}", data, default_order=order_number)
        if failures:
            raise failures.get(order_number) or next(iter(failures.values()))
        messages = _messages(data)
        return messages[0] if messages else OrderMessage("INFO", "", "", order_number)

    def get_sub_status_list(self) -> list[SubStatus]:
        """getSubStatusList: the shop's own sub-statuses per orderProgress (shape [T] from clients)."""
        data = self._order("getSubStatusList", {})
        return [
            SubStatus(
                int(status["orderProgress"]),
                int(sub["subStatusId"]),
                str(sub.get("subStatusName") or ""),
                sub.get("orderby"),
            )
            for status in data.get("StatusModelList") or []
            for sub in status.get("SubStatusModelList") or []
        ]

    def update_order_sub_status(self, sub_status_id: int, order_numbers: Sequence[str]) -> BatchResult:
        """updateOrderSubStatus for ≤100 orders."""
        numbers = self._order_batch(order_numbers, "updateOrderSubStatus")
        data = self._order(
            "updateOrderSubStatus",
            {"subStatusId": sub_status_id, "orderNumberList": numbers},
            per_order_errors=True,
        )
        return BatchResult(_messages(data), _order_failures("rpay.order.updateOrderSubStatus", data))

    def _order_batch(self, order_numbers: Sequence[str], name: str) -> list[str]:
        numbers = list(order_numbers)
        limit = self.settings.order_batch
        if not numbers or len(numbers) > limit or len(set(numbers)) != len(numbers):
            raise InvalidRequest(
                f"{name} takes 1–{limit} distinct order numbers per call, got {len(numbers)} "
                f"({len(set(numbers))} distinct); send them in batches of {limit}",
                function=f"rpay.order.{name}",
            )
        return numbers

    def _baskets(self, baskets: Sequence[BasketShipping]) -> list[JsonObject]:
        function = "rpay.order.updateOrderShipping"
        out: list[JsonObject] = []
        for basket in baskets:
            if not basket.rows or len(basket.rows) > self.settings.shipping_rows_per_basket:
                raise InvalidRequest(
                    f"basket {basket.basket_id} has {len(basket.rows)} shipping rows; RMS takes "
                    f"1–{self.settings.shipping_rows_per_basket}",
                    function=function,
                )
            out.append({"basketId": basket.basket_id, "ShippingModelList": [self._row(r) for r in basket.rows]})
        return out

    def _row(self, row: ShippingRow) -> JsonObject:
        function = "rpay.order.updateOrderShipping"
        if row.carrier_code is not None and row.carrier_code not in CARRIERS:
            raise InvalidRequest(
                f"{row.carrier_code!r} is not a Rakuten carrier code; use one of 1000–1031 "
                "(e.g. 1001 for Yamato), not a carrier name",
                function=function,
            )
        if row.tracking_number and len(row.tracking_number) > self.settings.tracking_number_max_chars:
            raise InvalidRequest(
                f"tracking number longer than {self.settings.tracking_number_max_chars} characters",
                function=function,
            )
        if row.delete and row.shipping_detail_id is None:
            raise InvalidRequest("deleting a shipping row needs its shipping_detail_id", function=function)
        out: JsonObject = {}
        if row.shipping_detail_id is not None:
            out["shippingDetailId"] = row.shipping_detail_id
        if row.carrier_code is not None:
            out["deliveryCompany"] = row.carrier_code
        if row.tracking_number is not None:
            out["shippingNumber"] = row.tracking_number
        if row.shipped_on is not None:
            out["shippingDate"] = row.shipped_on.isoformat() if isinstance(row.shipped_on, date) else ""
        if row.delete:
            out["shippingDeleteFlag"] = 1
        return out

    # --- LicenseManagementAPI ---------------------------------------------------------------------

    def get_license_expiry(self) -> LicenseExpiry:
        """license.expiryDate.get: when this store's licence key stops working (format [U])."""
        data = self._send(
            "license.expiryDate.get",
            "GET",
            "/es/1.0/license-management/license-key/expiry-date",
            params={"licenseKey": self._license_key},
        )
        raw = data.get("expiryDate") if isinstance(data, Mapping) else None
        try:
            expires_at = parse_rakuten_datetime(str(raw)) if raw else None
        except ValueError:
            log.warning("unreadable licence expiry date %r for store %s", raw, self.store_key)
            expires_at = None
        return LicenseExpiry(expires_at, raw)


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _messages(data: Any) -> list[OrderMessage]:
    if not isinstance(data, Mapping):
        return []
    return [OrderMessage.from_rakuten(m) for m in data.get("MessageModelList") or [] if isinstance(m, Mapping)]


def _order_failures(function: str, data: Any, *, default_order: str | None = None) -> dict[str, RmsError]:
    """The ERROR entries of a MessageModelList as per-order errors (several for one order are joined)."""
    grouped: dict[str, list[OrderMessage]] = {}
    for message in _messages(data):
        number = message.order_number or default_order
        if message.is_error and number:
            grouped.setdefault(number, []).append(message)
    failures: dict[str, RmsError] = {}
    for number, errors in grouped.items():
        error = error_from_message(function, errors[0].code, "; ".join(m.text for m in errors), number)
        error.codes = tuple(m.code for m in errors)
        failures[number] = error
    return failures


def _all_errors_name_orders(status: int, body: Any) -> bool:
    """A 400 whose every ERROR names an order: per-order refusals, not a failed call."""
    if status != 400 or not isinstance(body, Mapping):
        return False
    errors = [m for m in _messages(body) if m.is_error]
    return bool(errors) and all(m.order_number for m in errors)
