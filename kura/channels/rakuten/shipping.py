"""Shipping reports to Rakuten (発送完了報告): every shipped parcel of an order is one ShippingModel row (carrier code,
tracking number, shipping date) under its basket, sent with updateOrderShipping, or updateOrderShippingAsync
when many orders are due at once.

Marking an order shipped writes an outbox row ("shipping_report", order id) in the same transaction; the
job `rakuten.shipping` sends what is due, outside any write transaction, and then reads the orders back
(getOrder, 100 per call) so Kura records Rakuten's 500 and the row ids (shippingDetailId). A retryable
failure (network, 429, 5xx) backs off exponentially; a refusal (validation) is shown on the order and
waits for a person. Reports always carry every shipped parcel of the order, with the row id when Kura
knows it, so a resend updates rows instead of adding them; before resending an order whose earlier try
may have reached Rakuten, the order is read back first and its rows matched by tracking number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.channels.rakuten import orders as ordersync
from kura.channels.rakuten.client import BasketShipping, RmsClient, ShippingRow
from kura.channels.rakuten.errors import Permanent, Retryable, RmsError, Suspended
from kura.db import Database, utcnow
from kura.jobs import outbox, registry
from kura.jobs.registry import Progress, job_kind
from kura.orders.models import Order
from kura.orders.service import get_order
from kura.shipping.models import Parcel, ParcelStatus, ReportStatus
from kura.shipping.tracking import normalize_number

log = logging.getLogger(__name__)

KIND_REPORT: Final = "rakuten.shipping"
OUTBOX_KIND: Final = "shipping_report"
ASYNC_MIN_ORDERS: Final = 10  # "auto": this many orders due at once go through updateOrderShippingAsync
MODES: Final = ("auto", "sync", "async")
_SHIPPED_PARCELS: Final = (ParcelStatus.shipped, ParcelStatus.delivered, ParcelStatus.failed, ParcelStatus.lost)

outbox.register_kind(OUTBOX_KIND, KIND_REPORT)


def queue_report(session: Session, order: Order) -> None:
    """Queues the order's shipping report (inside the caller's transaction; the job is kicked after commit)."""
    outbox.mark_dirty(session, order.store_id, OUTBOX_KIND, str(order.id))


def retry_report(session: Session, order_id: int) -> None:
    """A person asks to send a refused report again (after fixing the parcel)."""
    order = get_order(session, order_id)  # NotFound (404) for an unknown id, not a 500
    for parcel in session.scalars(
        select(Parcel).where(Parcel.order_id == order_id, Parcel.status.in_(_SHIPPED_PARCELS))
    ):
        if parcel.report_status != ReportStatus.reported:
            parcel.report_status, parcel.report_error = ReportStatus.pending, None
    queue_report(session, order)


@dataclass
class _Report:
    row: outbox.Claimed
    order_id: int
    number: str
    baskets: list[BasketShipping]
    parcel_ids: list[int]  # in the order of the rows sent (dataNumber - 1)


def _reports(db: Database, rows: Sequence[outbox.Claimed]) -> tuple[list[_Report], list[outbox.Claimed]]:
    """What to send for each due row; rows whose order has nothing to report are returned apart."""
    reports: list[_Report] = []
    empty: list[outbox.Claimed] = []
    with db.reader() as s:
        for row in rows:
            order = s.get(Order, int(row.key))
            parcels = list(s.scalars(select(Parcel).where(Parcel.order_id == int(row.key),
                                                          Parcel.status.in_(_SHIPPED_PARCELS)).order_by(Parcel.id)))  # fmt: skip  # noqa: E501
            if order is None or not order.packages or not parcels:
                empty.append(row)
                continue
            basket_of = {p.id: p.basket_id for p in order.packages}
            grouped: dict[int, list[Parcel]] = {}
            for parcel in parcels:
                basket = basket_of.get(parcel.package_id or -1, order.packages[0].basket_id)
                grouped.setdefault(basket, []).append(parcel)
            baskets = [BasketShipping(basket, [ShippingRow(carrier_code=p.carrier_code, tracking_number=p.tracking_number,  # noqa: E501
                                                           shipped_on=p.shipped_on, shipping_detail_id=p.shipping_detail_id)  # noqa: E501
                                               for p in ps]) for basket, ps in grouped.items()]  # fmt: skip
            reports.append(
                _Report(row, order.id, order.order_number, baskets, [p.id for ps in grouped.values() for p in ps])
            )
    return reports, empty


def _mode(db: Database, store_id: int) -> str:
    with db.reader() as s:
        store = ordersync.orders.get_store(s, store_id)
        mode = str((store.settings or {}).get("shipping_report_mode") or "auto")
    return mode if mode in MODES else "auto"


@job_kind(KIND_REPORT, lease_ttl_s=900)
def push_reports(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """Sends the store's due shipping reports."""
    assert store_id is not None
    db = registry.job_database()
    return report_due(db, store_id, run_id=getattr(progress, "run_id", None), progress=progress)


def report_due(db: Database, store_id: int, *, client: RmsClient | None = None, run_id: int | None = None,
               progress: Progress | None = None, mode: str | None = None, limit: int = 400) -> dict[str, Any]:  # fmt: skip  # noqa: E501
    """Sends due reports of one store (sync one by one, or async 100 orders per request); returns counts."""
    counts = {"orders": 0, "reported": 0, "retry": 0, "refused": 0, "requests": 0}
    rows = outbox.claim(db, store_id, OUTBOX_KIND, limit=limit)
    if not rows:
        return counts
    own = client or ordersync.client_factory(db, store_id, run_id)
    try:
        recheck = [r for r in rows if r.attempts > 0]
        if recheck:  # an earlier try may have reached Rakuten: learn its row ids before sending again
            _read_back(db, store_id, own, [int(r.key) for r in recheck])
        reports, empty = _reports(db, rows)
        with db.transaction() as s:
            outbox.complete(s, empty)
        counts["orders"] = len(reports)
        chosen = mode or _mode(db, store_id)
        use_async = chosen == "async" or (chosen == "auto" and len(reports) >= ASYNC_MIN_ORDERS)
        sent = _send_async(db, store_id, own, reports, counts) if use_async else _send_sync(db, store_id, own, reports,
                                                                                              counts, progress)  # fmt: skip  # noqa: E501
        if sent:
            _read_back(db, store_id, own, sent)
    except Suspended as exc:
        with db.transaction() as s:
            for row in rows:
                outbox.fail(s, row, str(exc))
        ordersync._suspend(db, store_id, exc)
        raise
    finally:
        if client is None:
            own.close()
    return counts


def _send_sync(db: Database, store_id: int, client: RmsClient, reports: Sequence[_Report], counts: dict[str, Any],
               progress: Progress | None) -> list[int]:  # fmt: skip
    sent: list[int] = []
    for done, rep in enumerate(reports, 1):
        counts["requests"] += 1
        try:
            messages = client.update_order_shipping(rep.number, rep.baskets)
        except Suspended:
            raise
        except RmsError as exc:
            _failed(db, store_id, rep, exc, counts)
        else:
            ids = {m.data_number: m.shipping_detail_id for m in messages if m.data_number is not None}
            _succeeded(db, rep, ids)
            counts["reported"] += 1
            sent.append(rep.order_id)
        if progress is not None:
            progress(done, len(reports))
    return sent


def _send_async(db: Database, store_id: int, client: RmsClient, reports: Sequence[_Report],
                counts: dict[str, Any]) -> list[int]:  # fmt: skip
    sent: list[int] = []
    size = client.settings.order_batch
    for i in range(0, len(reports), size):
        chunk = list(reports[i : i + size])
        counts["requests"] += 1
        try:
            request_id = client.update_order_shipping_async({r.number: r.baskets for r in chunk})
        except Suspended:
            raise
        except Permanent:  # one bad order fails the validation of the whole request: send these one by one
            sent.extend(_send_sync(db, store_id, client, chunk, counts, None))
            continue
        except RmsError as exc:
            for rep in chunk:
                _failed(db, store_id, rep, exc, counts)
            continue
        result = _async_result(client, request_id)
        counts["requests"] += 1
        for rep in chunk:
            error = result.failed.get(rep.number) if result is not None else None
            if result is None:
                _failed(db, store_id, rep, Retryable(f"no result yet for request {request_id}; the order is read "
                                                     "back before it is sent again"), counts)  # fmt: skip
            elif error is not None:
                _failed(db, store_id, rep, error, counts)
            else:
                _succeeded(db, rep, {})
                counts["reported"] += 1
                sent.append(rep.order_id)
    return sent


def _async_result(client: RmsClient, request_id: str, tries: int = 5) -> Any:
    for attempt in range(tries):
        try:
            return client.get_result_update_order_shipping_async(request_id)
        except (Retryable, Permanent):
            if attempt == tries - 1:
                return None
            time.sleep(min(0.2 * 2**attempt, 5.0))
    return None


def _succeeded(db: Database, rep: _Report, ids: dict[int, int | None]) -> None:
    with db.transaction() as s:
        now = utcnow()
        for position, parcel_id in enumerate(rep.parcel_ids, 1):
            parcel = s.get_one(Parcel, parcel_id)
            parcel.report_status, parcel.report_error, parcel.reported_at = ReportStatus.reported, None, now
            parcel.report_attempts += 1
            parcel.shipping_detail_id = ids.get(position) or parcel.shipping_detail_id
        outbox.complete(s, [rep.row])


def _failed(db: Database, store_id: int, rep: _Report, exc: RmsError, counts: dict[str, Any]) -> None:
    from kura.stores.service import log_entry

    retry = isinstance(exc, Retryable)
    counts["retry" if retry else "refused"] += 1
    text = str(exc)
    with db.transaction() as s:
        for parcel_id in rep.parcel_ids:
            parcel = s.get_one(Parcel, parcel_id)
            parcel.report_attempts += 1
            parcel.report_error = text[:2000]
            if not retry:
                parcel.report_status = ReportStatus.failed
        if retry:
            outbox.fail(s, rep.row, text)
        else:
            outbox.complete(s, [rep.row])
        hint = ("Kura retries with backoff." if retry else
                "Fix the carrier code, tracking number or date on the order, then use Report again.")  # fmt: skip
        log_entry(s, store_id, kind="shipping", level="warning" if retry else "error", function="updateOrderShipping",
                  message=f"Shipping report of order {rep.number} not accepted: {text}", entity_ref=rep.number,
                  hint=hint, response=getattr(exc, "response", None), retry={"kind": KIND_REPORT, "order_id": rep.order_id})  # fmt: skip  # noqa: E501


def _read_back(db: Database, store_id: int, client: RmsClient, order_ids: Sequence[int]) -> None:
    """getOrder for these orders (Kura records Rakuten's status, 500), then each parcel learns its row id."""
    with db.reader() as s:
        numbers = list(s.scalars(select(Order.order_number).where(Order.id.in_(list(order_ids)))))
    try:
        ordersync.OrderImporter(db, store_id, client).run(iter(numbers), len(numbers))
    except Suspended:
        raise
    except RmsError as exc:
        log.warning("store %s: reading back %d reported orders failed: %s", store_id, len(numbers), exc)
        return
    with db.transaction() as s:
        for order in s.scalars(select(Order).where(Order.id.in_(list(order_ids)))):
            _match_rows(s, order)


def _match_rows(session: Session, order: Order) -> None:
    """Parcels without a row id take the id of Rakuten's row with their carrier and number; a pending parcel
    found on Rakuten was reported (an earlier try got through)."""
    rows = {(str(r.get("carrier_code")), normalize_number(str(r.get("tracking_number") or ""))): r
            for p in order.packages for r in (p.shipments or [])}  # fmt: skip
    for parcel in session.scalars(
        select(Parcel).where(Parcel.order_id == order.id, Parcel.status.in_(_SHIPPED_PARCELS))
    ):
        row = rows.get((parcel.carrier_code, normalize_number(parcel.tracking_number)))
        if row is None:
            continue
        if parcel.shipping_detail_id is None and row.get("shipping_detail_id") is not None:
            parcel.shipping_detail_id = int(row["shipping_detail_id"])
        if parcel.report_status == ReportStatus.pending:
            parcel.report_status, parcel.reported_at = ReportStatus.reported, utcnow()
