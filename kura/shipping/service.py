"""Fulfilment use cases: pack, create parcels (one or split over several warehouses), print labels, mark shipped
(which queues the Rakuten shipping report), track parcels in transit, seller cancellations, failed
deliveries, and returns.

Carrier calls (issuing numbers, tracking, cancelling) happen outside database write transactions: functions
that call a carrier take the `Database` and open their own short transactions around the call; the others
take the caller's Session like every other service."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from kura import japan
from kura.catalog.models import Sku
from kura.db import Database, utcnow
from kura.errors import Conflict, IllegalTransition, Invalid, KuraError, NotFound
from kura.inventory import service as inventory
from kura.jobs import registry
from kura.jobs.registry import Progress, job_kind
from kura.orders import service as orders
from kura.orders.models import Order, OrderLine, OrderPackage
from kura.orders.statuses import OrderStatus
from kura.shipping.carriers import (
    CarrierAdapter,
    CarrierError,
    Party,
    carrier_adapter,
    carrier_info,
    default_base_url,
    slot_for_carrier,
    time_slot,
)
from kura.shipping.carriers import Parcel as ParcelSpec
from kura.shipping.labels import Label, render_labels
from kura.shipping.models import (
    OPEN_PARCEL,
    Parcel,
    ParcelLine,
    ParcelStatus,
    ReportStatus,
    Return,
    ReturnLine,
    ReturnStatus,
)
from kura.shipping.tracking import TrackingStatus
from kura.stores.models import Channel, Store

log = logging.getLogger(__name__)

S = OrderStatus
KIND_TRACK: Final = "shipping.track"
DEFAULT_TRACK_INTERVAL_S: Final = 1800
MIN_TRACK_INTERVAL_S: Final = 60
CARRIER_NAMES: Final[dict[str, str]] = {"yamato": "1001", "sagawa": "1002", "japanpost": "1003", "other": "1000"}
PACKABLE: Final = frozenset({S.RFP})
SHIPPABLE: Final = frozenset({S.RFP, S.Packed, S.Ready_to_Ship})
JST: Final = dt.timezone(dt.timedelta(hours=9), "JST")
COD_PAYMENT_CODE: Final = 2  # settlementMethodCode 2: 代金引換

AdapterFactory = Callable[[str], CarrierAdapter]
_adapters: dict[tuple[str, str], CarrierAdapter] = {}


def _shared_adapter(code: str) -> CarrierAdapter:
    """One adapter (and its HTTP connection pool) per carrier and carrier URL, for the whole process."""
    key = (code, default_base_url())
    if key not in _adapters:
        _adapters[key] = carrier_adapter(code)
    return _adapters[key]


adapter_factory: AdapterFactory = _shared_adapter
"""How a carrier code becomes an adapter (tests and the benchmark may point it elsewhere)."""


def carrier_code(value: str) -> str:
    """`yamato`, `1001`, `Sagawa` → the Rakuten carrier code."""
    text = value.strip().lower().replace(" ", "").replace("_", "")
    code = CARRIER_NAMES.get(text, text)
    carrier_info(code)
    return code


# ---------------------------------------------------------------- ship-from address


def set_ship_from(session: Session, store_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The address labels print as the sender for a store's orders (name, postal code, prefecture, address,
    phone; a company name optional)."""
    store = orders.get_store(session, store_id)
    name = str(fields.get("name") or "").strip()
    line1 = str(fields.get("address_line1") or "").strip()
    if not name or not line1:
        raise Invalid("ship_from", "The ship-from address needs a name and an address line.")
    value = {
        "name": name[:100],
        "company": (str(fields.get("company") or "").strip() or None),
        "postal_code": japan.postal_code(str(fields.get("postal_code") or "")),
        "prefecture": japan.prefecture(str(fields.get("prefecture") or "")).name,
        "address_line1": line1[:255],
        "address_line2": (str(fields.get("address_line2") or "").strip() or None),
        "phone": japan.phone(str(fields.get("phone") or "")),
    }
    store.settings = {**(store.settings or {}), "ship_from": value}
    session.flush()
    return value


def ship_from(store: Store) -> Party:
    value = (store.settings or {}).get("ship_from")
    if not value:
        raise Invalid("ship_from", f"Store {store.name!r} has no ship-from address; labels need one. Set it with "
                                   f"`kura orders ship-from --store {store.id} ...` or PUT /api/v1/stores/"
                                   f"{store.id}/ship-from.")  # fmt: skip
    return Party(name=value["name"], postal_code=value["postal_code"], prefecture=value["prefecture"],
                 address_line1=value["address_line1"], address_line2=value.get("address_line2"),
                 phone=value.get("phone") or "", company=value.get("company"))  # fmt: skip


# ---------------------------------------------------------------- plans


@dataclass(frozen=True)
class ParcelPlan:
    """One parcel to create: order line id → units, from a warehouse (None: where the stock is held)."""

    lines: Mapping[int, int]
    warehouse_id: int | None = None
    tracking_number: str | None = None  # only for carriers without an API ("other", manual entry)
    package_id: int | None = None


@dataclass
class _Prepared:
    order_id: int
    order_number: str
    plan: ParcelPlan
    spec: ParcelSpec
    package_id: int | None
    warehouse_id: int | None


def _shipped_units(session: Session, order_id: int) -> dict[int, int]:
    """Units of each line already in a parcel that is not cancelled."""
    rows = session.execute(
        select(ParcelLine.order_line_id, func.sum(ParcelLine.quantity))
        .join(Parcel, Parcel.id == ParcelLine.parcel_id)
        .where(Parcel.order_id == order_id, Parcel.status != ParcelStatus.cancelled)
        .group_by(ParcelLine.order_line_id)
    ).all()
    return {line_id: int(units) for line_id, units in rows}


def _held_warehouse(session: Session, order: Order, line_ids: Iterable[int]) -> int | None:
    held = inventory.reservations_for(session, list(line_ids))
    for reservations in held.values():
        for r in reservations:
            return r.warehouse_id
    return None


def _remaining(session: Session, order: Order) -> dict[int, int]:
    done = _shipped_units(session, order.id)
    return {
        line.id: line.quantity - done.get(line.id, 0) for line in order.lines if line.quantity > done.get(line.id, 0)
    }


def _description(order: Order, lines: Mapping[int, int]) -> str:
    names = [line.name for line in order.lines if line.id in lines]
    if not names:
        return ""
    return names[0][:40] + (f" 他{len(names) - 1}点" if len(names) > 1 else "")


def _slot(order: Order) -> Any:
    if not order.time_slot:
        return None
    try:
        return time_slot(str(order.time_slot))
    except Invalid:
        return None  # a term the carriers do not book (e.g. "9" other): the label shows none


def _spec(order: Order, package: OrderPackage | None, lines: Mapping[int, int], tracking_number: str | None,
          *, first: bool) -> ParcelSpec:  # fmt: skip
    recipient = package.recipient if package is not None else order.shipping
    cod = order.total if order.payment_code == COD_PAYMENT_CODE and first and order.total > 0 else None
    return ParcelSpec(
        reference=order.order_number, sender=ship_from(order.store), recipient=Party.from_address(recipient),
        description=_description(order, lines), time_slot=_slot(order), delivery_date=order.delivery_date,
        cod_amount=cod, tracking_number=tracking_number,
    )  # fmt: skip


def _package_for(order: Order, plan: ParcelPlan, line_ids: Iterable[int]) -> OrderPackage | None:
    if plan.package_id is not None:
        found = next((p for p in order.packages if p.id == plan.package_id), None)
        if found is None:
            raise Invalid("package_id", f"Order {order.order_number} has no package {plan.package_id}.")
        return found
    by_line = {line.id: line.package_id for line in order.lines}
    wanted = {by_line.get(i) for i in line_ids} - {None}
    return next((p for p in order.packages if p.id in wanted), order.packages[0] if order.packages else None)


def _prepare(session: Session, order: Order, plans: Sequence[ParcelPlan]) -> list[_Prepared]:
    if order.status not in SHIPPABLE:
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; parcels are created for allocated "
                                "orders (RFP, Packed, Ready to Ship). Allocate it first.",
                                current=order.status.value)  # fmt: skip
    remaining = _remaining(session, order)
    own = {line.id for line in order.lines}
    prepared: list[_Prepared] = []
    has_parcels = bool(_shipped_units(session, order.id))
    for i, plan in enumerate(plans):
        if not plan.lines:
            raise Invalid(f"parcels[{i}].lines", "A parcel carries at least one line.")
        for line_id, units in plan.lines.items():
            if line_id not in own:
                raise Invalid(f"parcels[{i}].lines", f"Line {line_id} is not a line of order {order.order_number}.")
            if isinstance(units, bool) or not isinstance(units, int) or units < 1:
                raise Invalid(f"parcels[{i}].lines", f"Units must be a whole number ≥ 1; got {units!r}.")
            if units > remaining.get(line_id, 0):
                line = next(x for x in order.lines if x.id == line_id)
                raise Invalid(f"parcels[{i}].lines", f"Line {line.line_no} ({line.sku}) has {remaining.get(line_id, 0)} "  # noqa: E501
                                                     f"unit(s) not yet in a parcel; {units} asked.")  # fmt: skip
            remaining[line_id] -= units
        if plan.warehouse_id is not None:
            inventory.get_warehouse(session, plan.warehouse_id)
        package = _package_for(order, plan, plan.lines)
        warehouse = plan.warehouse_id or _held_warehouse(session, order, plan.lines)
        prepared.append(_Prepared(order.id, order.order_number, plan,
                                  _spec(order, package, plan.lines, plan.tracking_number, first=not has_parcels and i == 0),  # noqa: E501
                                  package.id if package else None, warehouse))  # fmt: skip
    return prepared


def _whole_order(session: Session, order: Order, tracking_number: str | None = None) -> list[ParcelPlan]:
    remaining = _remaining(session, order)
    if not remaining:
        raise Conflict(f"Every unit of order {order.order_number} is in a parcel already.")
    return [ParcelPlan(remaining, tracking_number=tracking_number)]


# ---------------------------------------------------------------- pack, parcels, labels


def pack(session: Session, order_id: int, *, actor: str | None = None) -> Order:
    """RFP → Packed: the goods are picked and in their box."""
    order = orders.get_order(session, order_id, for_update=True)
    if order.status == S.Packed:
        return order
    if order.status not in PACKABLE:
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; only RFP orders (all stock "
                                "allocated) are packed.", current=order.status.value)  # fmt: skip
    return orders.change_status(session, order_id, S.Packed, actor=actor, note="packed")


def create_parcels(db: Database, order_id: int, carrier: str, plans: Sequence[ParcelPlan] | None = None, *,
                   actor: str | None = None, with_label: bool = True,
                   tracking_number: str | None = None) -> list[int]:  # fmt: skip
    """Registers the order's parcels with the carrier and keeps their tracking numbers and labels; returns the
    parcel ids. Without plans, one parcel carries every unit not yet in a parcel; several plans split the
    order (each plan its own warehouse and tracking number). An RFP order becomes Packed, and the order is
    Ready to Ship once every unit is in a parcel."""
    code = carrier_code(carrier)
    adapter = adapter_factory(code)
    with db.reader() as s:
        order = orders.get_order(s, order_id)
        prepared = _prepare(s, order, plans or _whole_order(s, order, tracking_number))
    issued: list[tuple[_Prepared, Any]] = []
    try:
        for item in prepared:  # the carrier call: no transaction is open
            issued.append((item, adapter.create_shipment(item.spec, with_label=with_label)))
        with db.transaction() as s:
            order = orders.get_order(s, order_id, for_update=True)
            _prepare(s, order, [p.plan for p in prepared])  # still valid now that the row is held
            ids = []
            for item, shipment in issued:
                parcel = Parcel(order_id=order.id, package_id=item.package_id, warehouse_id=item.warehouse_id,
                                carrier_code=code, tracking_number=shipment.tracking_number,
                                status=ParcelStatus.label_created, tracking_url=shipment.tracking_url,
                                label_pdf=shipment.label_pdf or None, actor=actor,
                                lines=[ParcelLine(order_line_id=i, quantity=q) for i, q in item.plan.lines.items()])  # fmt: skip  # noqa: E501
                s.add(parcel)
                ids.append(parcel)
            try:
                with s.begin_nested():
                    s.flush()
            except IntegrityError:
                raise Conflict(
                    f"Tracking number {', '.join(sh.tracking_number for _, sh in issued)} is already "
                    f"used by another parcel of carrier {code}.",
                    field="tracking_number",
                ) from None
            _after_parcels(s, order, actor, f"{len(ids)} parcel(s) with {carrier_info(code).name_en}")
            return [p.id for p in ids]
    except BaseException:
        _withdraw(adapter, [sh.tracking_number for _, sh in issued])
        raise


def _withdraw(adapter: CarrierAdapter, numbers: Sequence[str]) -> None:
    """Best effort: numbers issued for parcels that were not recorded are cancelled at the carrier."""
    for number in numbers:
        try:
            adapter.cancel(number)
        except (CarrierError, KuraError):
            log.warning("could not withdraw %s number %s", adapter.code, number)


def _after_parcels(session: Session, order: Order, actor: str | None, note: str) -> None:
    if order.status == S.RFP:
        orders.change_status(session, order.id, S.Packed, actor=actor, note=note)
    if order.status == S.Packed and not _remaining(session, order):
        orders.change_status(session, order.id, S.Ready_to_Ship, actor=actor, note=note)


def split(db: Database, order_id: int, carrier: str, parcels: Sequence[ParcelPlan], *,
          actor: str | None = None) -> list[int]:  # fmt: skip
    """Splits an order's lines over several parcels (from one or several warehouses); each gets its own
    tracking number and, on shipping, its own Rakuten shipping row."""
    if len(parcels) < 1:
        raise Invalid("parcels", "Give at least one parcel.")
    return create_parcels(db, order_id, carrier, parcels, actor=actor)


def cancel_parcel(db: Database, parcel_id: int, *, actor: str | None = None) -> None:
    """Withdraws a parcel that has not left (the carrier cancels its number); its units can be parcelled again."""
    with db.reader() as s:
        parcel = get_parcel(s, parcel_id)
        if parcel.status != ParcelStatus.label_created:
            raise IllegalTransition(f"Parcel {parcel.tracking_number} is {parcel.status}; only parcels not yet "
                                    "shipped are cancelled.", current=parcel.status.value)  # fmt: skip
        code, number = parcel.carrier_code, parcel.tracking_number
    adapter_factory(code).cancel(number)
    with db.transaction() as s:
        parcel = get_parcel(s, parcel_id)
        parcel.status = ParcelStatus.cancelled
        order = orders.get_order(s, parcel.order_id, for_update=True)
        if order.status == S.Ready_to_Ship:
            orders.change_status(s, order.id, S.Packed, actor=actor, note=f"parcel {number} cancelled")


def get_parcel(session: Session, parcel_id: int) -> Parcel:
    parcel = session.get(Parcel, parcel_id)
    if parcel is None:
        raise NotFound(f"No parcel with id {parcel_id}.")
    return parcel


def parcels_of(session: Session, order_id: int) -> list[Parcel]:
    return list(session.scalars(select(Parcel).where(Parcel.order_id == order_id).order_by(Parcel.id)))


def _label(order: Order, parcel: Parcel) -> Label:
    package = next((p for p in order.packages if p.id == parcel.package_id), None)
    lines = {pl.order_line_id: pl.quantity for pl in parcel.lines}
    first = min((p.id for p in order_parcels(order)), default=parcel.id) == parcel.id
    spec = _spec(order, package, lines, None, first=first)
    return Label(parcel.carrier_code, parcel.tracking_number, spec, slot_for_carrier(parcel.carrier_code, spec.time_slot),  # noqa: E501
                 carrier_name=carrier_info(parcel.carrier_code).name_ja)  # fmt: skip


def order_parcels(order: Order) -> list[Parcel]:
    session = Session.object_session(order)
    assert session is not None
    return [p for p in parcels_of(session, order.id) if p.status != ParcelStatus.cancelled]


def label_pdf(session: Session, parcel_id: int) -> bytes:
    """The parcel's label: the carrier's (or the one kept at creation), else rendered now."""
    parcel = session.scalar(select(Parcel).where(Parcel.id == parcel_id).options(undefer(Parcel.label_pdf)))
    if parcel is None:
        raise NotFound(f"No parcel with id {parcel_id}.")
    if parcel.label_pdf:
        return parcel.label_pdf
    return render_labels([_label(orders.get_order(session, parcel.order_id), parcel)])


def labels_for_orders(session: Session, order_ids: Sequence[int]) -> bytes:
    """One PDF with the label of every open parcel of the given orders, in the given order (bulk print)."""
    labels: list[Label] = []
    wanted = list(dict.fromkeys(order_ids))
    found = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(wanted)))} if wanted else {}
    parcels: dict[int, list[Parcel]] = defaultdict(list)
    if wanted:
        for p in session.scalars(select(Parcel).where(Parcel.order_id.in_(wanted), Parcel.status != ParcelStatus.cancelled)  # noqa: E501
                                 .order_by(Parcel.id)):  # fmt: skip
            parcels[p.order_id].append(p)
    for order_id in wanted:
        order = found.get(order_id)
        if order is None:
            raise NotFound(f"No order with id {order_id}.")
        for parcel in parcels[order_id]:
            package = next((x for x in order.packages if x.id == parcel.package_id), None)
            lines = {pl.order_line_id: pl.quantity for pl in parcel.lines}
            spec = _spec(order, package, lines, None, first=parcel is parcels[order_id][0])
            labels.append(Label(parcel.carrier_code, parcel.tracking_number, spec,
                                slot_for_carrier(parcel.carrier_code, spec.time_slot),
                                carrier_name=carrier_info(parcel.carrier_code).name_ja))  # fmt: skip
    if not labels:
        raise Invalid("order_ids", "None of these orders has a parcel; create shipments first.")
    return render_labels(labels)


# ---------------------------------------------------------------- shipping


def mark_shipped(session: Session, order_id: int, *, shipped_on: dt.date | None = None,
                 actor: str | None = None) -> Order:  # fmt: skip
    """The parcels left: every parcel not yet shipped is shipped, the order goes In transit (its stock is
    consumed), and a marketplace order's shipping report is queued (sent by a job, retried with backoff)."""
    order = orders.get_order(session, order_id, for_update=True)
    if order.status not in SHIPPABLE:
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; only RFP, Packed or Ready to Ship "
                                "orders ship.", current=order.status.value)  # fmt: skip
    left = _remaining(session, order)
    if left:
        missing = ", ".join(f"{x.sku} × {left[x.id]}" for x in order.lines if x.id in left)
        raise Invalid("parcels", f"Order {order.order_number} has units in no parcel ({missing}); create a "
                                 "shipment for them first.")  # fmt: skip
    today = shipped_on or utcnow().astimezone(JST).date()
    now = utcnow()
    marketplace = order.store.channel == Channel.rakuten and bool(order.packages)
    numbers = []
    for parcel in parcels_of(session, order.id):
        if parcel.status != ParcelStatus.label_created:
            continue
        parcel.status, parcel.shipped_on, parcel.shipped_at = ParcelStatus.shipped, today, now
        parcel.tracking_status = TrackingStatus.INFORMATION_RECEIVED.value
        if marketplace:
            parcel.report_status, parcel.report_error = ReportStatus.pending, None
        numbers.append(parcel.tracking_number)
    if order.status == S.RFP:
        orders.change_status(session, order.id, S.Packed, actor=actor, note="packed")
    orders.change_status(session, order.id, S.In_transit, actor=actor,
                         note=f"shipped {today.isoformat()}: {', '.join(numbers)}")  # fmt: skip
    ensure_tracking_schedule(session)
    if marketplace:
        from kura.channels.rakuten import shipping as rakuten_shipping

        rakuten_shipping.queue_report(session, order)
    return order


def ship(db: Database, order_id: int, carrier: str, *, tracking_number: str | None = None,
         shipped_on: dt.date | None = None, actor: str | None = None) -> Order:  # fmt: skip
    """Everything an order still needs to leave: allocate (New/Partial), one parcel with the carrier for what is
    not in a parcel yet (a number from the slip for carriers without an API), then mark shipped."""
    with db.transaction() as s:
        order = orders.get_order(s, order_id, for_update=True)
        if order.status in (S.New, S.Partial):
            orders.allocate(s, order_id, actor=actor)
            if order.status != S.RFP:
                raise Invalid("stock", f"Order {order.order_number} could not be fully allocated ({order.status}); "
                                       "receive stock first.")  # fmt: skip
        remaining = _remaining(s, order) if order.status in SHIPPABLE else {}
    if remaining:
        create_parcels(db, order_id, carrier, actor=actor, tracking_number=tracking_number)
    with db.transaction() as s:
        return mark_shipped(s, order_id, shipped_on=shipped_on, actor=actor)


# ---------------------------------------------------------------- bulk


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": {str(k): v for k, v in self.failed.items()}}


def bulk(db: Database, action: str, order_ids: Sequence[int], *, carrier: str = "yamato",
         actor: str | None = None) -> BulkResult:  # fmt: skip
    """allocate | pack | parcels | ship over many orders; one order's failure never stops the others."""
    result = BulkResult()
    for order_id in dict.fromkeys(order_ids):
        try:
            if action == "allocate":
                with db.transaction() as s:
                    orders.allocate(s, order_id, actor=actor)
            elif action == "pack":
                with db.transaction() as s:
                    pack(s, order_id, actor=actor)
            elif action == "parcels":
                with db.reader() as s:
                    order = orders.get_order(s, order_id)
                    need = order.status in SHIPPABLE and bool(_remaining(s, order))
                if need:
                    create_parcels(db, order_id, carrier, actor=actor, with_label=False)
            elif action == "ship":
                ship(db, order_id, carrier, actor=actor)
            else:
                raise Invalid("action", f"Unknown bulk action {action!r}; use allocate, pack, parcels or ship.")
            result.done.append(order_id)
        except KuraError as exc:
            result.failed[order_id] = exc.message
    return result


def print_labels(db: Database, order_ids: Sequence[int], *, carrier: str = "yamato",
                 actor: str | None = None) -> tuple[bytes, BulkResult]:  # fmt: skip
    """Bulk "print labels": creates the parcels orders still lack (with `carrier`), then one PDF of all labels."""
    result = bulk(db, "parcels", order_ids, carrier=carrier, actor=actor)
    ok = [i for i in dict.fromkeys(order_ids) if i not in result.failed]
    with db.reader() as s:
        return labels_for_orders(s, ok), result


# ---------------------------------------------------------------- tracking


def ensure_tracking_schedule(session: Session, interval_s: int | None = None) -> None:
    """The installation-wide tracking poll; created on the first shipment, its interval settable."""
    from kura.jobs.schedules import JobSchedule, ensure_schedule

    if interval_s is not None:
        if interval_s < MIN_TRACK_INTERVAL_S:
            raise Invalid("interval_s", f"Tracking polls run at most every {MIN_TRACK_INTERVAL_S} s.")
        ensure_schedule(session, KIND_TRACK, None, interval_s)
        return
    exists = session.scalar(
        select(JobSchedule.id).where(JobSchedule.kind == KIND_TRACK, JobSchedule.store_id.is_(None))
    )
    if exists is None:
        ensure_schedule(session, KIND_TRACK, None, DEFAULT_TRACK_INTERVAL_S,
                        first_run_at=utcnow() + dt.timedelta(seconds=DEFAULT_TRACK_INTERVAL_S))  # fmt: skip


_OUTCOME: Final[dict[TrackingStatus, ParcelStatus]] = {
    TrackingStatus.DELIVERED: ParcelStatus.delivered,
    TrackingStatus.FAILED: ParcelStatus.failed,
    TrackingStatus.RETURNED: ParcelStatus.failed,
    TrackingStatus.LOST: ParcelStatus.lost,
}
TRACKED: Final = frozenset({ParcelStatus.shipped, ParcelStatus.failed, ParcelStatus.lost})


def track(db: Database, *, limit: int = 5000) -> dict[str, int]:
    """Asks the carriers about every parcel in transit and moves parcels and orders on: all parcels delivered
    → Delivered; one failed or returned → Failed_delivery_initiated; one lost → Lost_in_transit."""
    with db.reader() as s:
        rows = s.execute(select(Parcel.id, Parcel.carrier_code, Parcel.tracking_number)
                         .where(Parcel.status.in_([ParcelStatus.shipped, ParcelStatus.lost]))
                         .order_by(Parcel.last_tracked_at.is_not(None), Parcel.last_tracked_at, Parcel.id)
                         .limit(limit)).all()  # fmt: skip
    by_carrier: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for parcel_id, code, number in rows:
        by_carrier[code].append((parcel_id, number))
    counts = {"parcels": len(rows), "delivered": 0, "failed": 0, "lost": 0, "errors": 0}
    for code, items in by_carrier.items():
        try:
            results = adapter_factory(code).track([n for _, n in items])  # no transaction open
        except (CarrierError, KuraError) as exc:
            counts["errors"] += len(items)
            log.warning("tracking %s parcels failed: %s", code, exc)
            continue
        for (parcel_id, _), result in zip(items, results, strict=True):
            with db.transaction() as s:
                outcome = _apply_tracking(s, parcel_id, result.status, result.delivered_at)
            if outcome is not None:
                counts[outcome.value] = counts.get(outcome.value, 0) + 1
    return counts


def _apply_tracking(session: Session, parcel_id: int, status: TrackingStatus,
                    delivered_at: dt.datetime | None) -> ParcelStatus | None:  # fmt: skip
    parcel = get_parcel(session, parcel_id)
    parcel.last_tracked_at = utcnow()
    if status is TrackingStatus.UNKNOWN:
        return None
    parcel.tracking_status = status.value
    outcome = _OUTCOME.get(status)
    if outcome is None or outcome == parcel.status:
        if parcel.status == ParcelStatus.lost and outcome is None and status is not TrackingStatus.INFORMATION_RECEIVED:
            parcel.status = ParcelStatus.shipped  # found again
        return None
    parcel.status = outcome
    if outcome == ParcelStatus.delivered:
        parcel.delivered_at = delivered_at or utcnow()
    _order_follows_parcels(session, parcel.order_id, parcel.tracking_number, status)
    return outcome


def _order_follows_parcels(session: Session, order_id: int, number: str, status: TrackingStatus) -> None:
    order = orders.get_order(session, order_id, for_update=True)
    parcels = [p for p in parcels_of(session, order_id) if p.status != ParcelStatus.cancelled]
    note = f"carrier: parcel {number} {status.value}"
    if status is TrackingStatus.DELIVERED and all(p.status == ParcelStatus.delivered for p in parcels):
        path = {S.In_transit: [S.Delivered], S.Lost_in_transit: [S.Delivered],
                S.Failed_delivery_initiated: [S.In_transit, S.Delivered]}.get(order.status, [])  # fmt: skip
        for step in path:
            orders.change_status(session, order.id, step, actor="carrier", note=note)
    elif status in (TrackingStatus.FAILED, TrackingStatus.RETURNED):
        if order.status in (S.In_transit, S.Lost_in_transit):
            if order.status == S.Lost_in_transit:
                orders.change_status(session, order.id, S.In_transit, actor="carrier", note=note)
            orders.change_status(session, order.id, S.Failed_delivery_initiated, actor="carrier", note=note)
    elif status is TrackingStatus.LOST and order.status == S.In_transit:
        orders.change_status(session, order.id, S.Lost_in_transit, actor="carrier", note=note)


@job_kind(KIND_TRACK, lease_ttl_s=900)
def track_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    """The scheduled tracking poll (installation-wide)."""
    return dict(track(registry.job_database()))


# ---------------------------------------------------------------- cancellations and failed deliveries


def cancel_by_seller(db: Database, order_id: int, *, reason: int = 10, actor: str | None = None) -> Order:
    """The seller cancels an order that has not shipped: its unshipped parcels are withdrawn at the carrier;
    a Rakuten order is cancelled on Rakuten (it answers with Cancel_in_progress, then Cancel); other orders go
    Cancel_by_seller_inprocess → Cancel_by_seller, giving their stock back."""
    with db.reader() as s:
        order = orders.get_order(s, order_id)
        if orders.is_shipped(order.status) or order.status not in orders.UNSHIPPED | {S.Approval_inprocess}:
            raise IllegalTransition(f"Order {order.order_number} is {order.status}; only orders that have not "
                                    "shipped are cancelled (a shipped order comes back as a return).",
                                    current=order.status.value)  # fmt: skip
        rakuten = order.store.channel == Channel.rakuten and order.channel_status is not None
        open_parcels = [p.id for p in parcels_of(s, order_id) if p.status == ParcelStatus.label_created]
    for parcel_id in open_parcels:
        try:
            cancel_parcel(db, parcel_id, actor=actor)
        except KuraError:
            log.warning("parcel %s of order %s could not be withdrawn", parcel_id, order_id)
    if rakuten:
        from kura.channels.rakuten.orders import cancel_on_rakuten

        return cancel_on_rakuten(db, order_id, reason, actor=actor)
    with db.transaction() as s:
        orders.change_status(s, order_id, S.Cancel_by_seller_inprocess, actor=actor, note="cancelled by the seller")
        return orders.change_status(s, order_id, S.Cancel_by_seller, actor=actor, note="cancelled by the seller")


def failed_delivery_putaway(session: Session, order_id: int, warehouse_id: int, *,
                            actor: str | None = None) -> Order:  # fmt: skip
    """A parcel that could not be delivered is back: its units are received into `warehouse_id`."""
    order = orders.get_order(session, order_id, for_update=True)
    if order.status != S.Failed_delivery_initiated:
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; only a failed delivery is put "
                                "away.", current=order.status.value)  # fmt: skip
    units: dict[int, int] = defaultdict(int)
    for parcel in parcels_of(session, order_id):
        if parcel.status == ParcelStatus.failed:
            for pl in parcel.lines:
                units[pl.order_line_id] += pl.quantity
    _restock(session, order, units, warehouse_id, f"failed delivery of order {order.order_number}", actor)
    return orders.change_status(session, order_id, S.Failed_delivery_putaway, actor=actor, note="back on the shelf")


def failed_delivery_complete(session: Session, order_id: int, *, actor: str | None = None) -> Order:
    return orders.change_status(session, order_id, S.Failed_delivery_complete, actor=actor)


def _restock(session: Session, order: Order, units: Mapping[int, int], warehouse_id: int, note: str,
             actor: str | None) -> None:  # fmt: skip
    inventory.get_warehouse(session, warehouse_id)
    lines = {line.id: line for line in order.lines}
    for line_id, quantity in units.items():
        line = lines[line_id]
        if line.sku_id is None:
            continue  # a SKU the catalog does not know has no stock to put back
        sku = session.get_one(Sku, line.sku_id)
        parts = (
            [(c.component.code, c.quantity * quantity) for c in sku.components]
            if sku.is_kit
            else [(sku.code, quantity)]
        )
        for code, n in parts:
            inventory.receive(session, warehouse_id, code, n, reference=f"order:{order.id}", note=note, actor=actor)


# ---------------------------------------------------------------- returns


_RETURNABLE: Final = frozenset({S.Delivered, S.Complete})


def _line_by_ref(order: Order, ref: str | int) -> OrderLine:
    for line in order.lines:
        if (isinstance(ref, int) and line.id == ref) or (isinstance(ref, str) and ref in (line.sku, str(line.line_no))):
            return line
    raise Invalid("lines", f"Order {order.order_number} has no line {ref!r} (give a SKU or a line number).")


def record_return(session: Session, order_id: int, lines: Mapping[Any, int], reason: str, *,
                  warehouse_id: int | None = None, note: str | None = None, actor: str | None = None) -> Return:  # fmt: skip  # noqa: E501
    """The buyer sends goods back: which lines (SKU, line number or line id) and how many, and why. The order
    goes Return_initiated."""
    order = orders.get_order(session, order_id, for_update=True)
    if order.status not in _RETURNABLE:
        raise IllegalTransition(f"Order {order.order_number} is {order.status}; returns are recorded for delivered "
                                "or complete orders.", current=order.status.value)  # fmt: skip
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason", "Say why the goods come back.")
    if not lines:
        raise Invalid("lines", "A return has at least one line.")
    returned = _returned_units(session, order_id)
    rows: list[ReturnLine] = []
    for ref, quantity in lines.items():
        line = _line_by_ref(order, ref)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise Invalid("lines", f"Return quantity must be a whole number ≥ 1; got {quantity!r}.")
        left = line.quantity - returned.get(line.id, 0)
        if quantity > left:
            raise Invalid("lines", f"Line {line.line_no} ({line.sku}): {quantity} returned, but only {left} of "
                                   f"{line.quantity} can still come back.")  # fmt: skip
        rows.append(ReturnLine(order_line_id=line.id, quantity=quantity))
    if warehouse_id is not None:
        inventory.get_warehouse(session, warehouse_id)
    ret = Return(order_id=order.id, status=ReturnStatus.initiated, reason=reason[:500], warehouse_id=warehouse_id,
                 note=note, actor=actor, lines=rows)  # fmt: skip
    session.add(ret)
    orders.change_status(session, order.id, S.Return_initiated, actor=actor, note=f"return: {reason[:200]}")
    session.flush()
    return ret


def _returned_units(session: Session, order_id: int) -> dict[int, int]:
    rows = session.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity)).join(Return, Return.id == ReturnLine.return_id)
        .where(Return.order_id == order_id, Return.status != ReturnStatus.rejected).group_by(ReturnLine.order_line_id)
    ).all()  # fmt: skip
    return {line_id: int(n) for line_id, n in rows}


def get_return(session: Session, return_id: int) -> Return:
    ret = session.get(Return, return_id, with_for_update=True)
    if ret is None:
        raise NotFound(f"No return with id {return_id}.")
    return ret


def _expect(ret: Return, *allowed: ReturnStatus) -> None:
    if ret.status not in allowed:
        raise IllegalTransition(f"Return {ret.id} is {ret.status}; this step needs {' or '.join(allowed)}.",
                                current=ret.status.value)  # fmt: skip


def approve_return(session: Session, return_id: int, *, actor: str | None = None) -> Return:
    ret = get_return(session, return_id)
    _expect(ret, ReturnStatus.initiated)
    ret.status, ret.decided_at = ReturnStatus.approved, utcnow()
    orders.change_status(session, ret.order_id, S.Return_approved, actor=actor, note=f"return {ret.id} approved")
    return ret


def reject_return(session: Session, return_id: int, *, note: str | None = None, actor: str | None = None) -> Return:
    """The return is refused; the order goes Return_Rejected, then Complete."""
    ret = get_return(session, return_id)
    _expect(ret, ReturnStatus.initiated)
    ret.status, ret.decided_at = ReturnStatus.rejected, utcnow()
    ret.note = note or ret.note
    orders.change_status(session, ret.order_id, S.Return_Rejected, actor=actor, note=f"return {ret.id} rejected")
    orders.change_status(session, ret.order_id, S.Complete, actor=actor, note=f"return {ret.id} rejected")
    return ret


def putaway_return(session: Session, return_id: int, warehouse_id: int | None = None, *,
                   actor: str | None = None) -> Return:  # fmt: skip
    """The returned units go back on a shelf: received into the warehouse (the stock sync then pushes them)."""
    ret = get_return(session, return_id)
    _expect(ret, ReturnStatus.approved)
    target = warehouse_id or ret.warehouse_id
    if target is None:
        raise Invalid("warehouse_id", "Choose the warehouse the returned goods go back to.")
    order = orders.get_order(session, ret.order_id, for_update=True)
    _restock(session, order, {rl.order_line_id: rl.quantity for rl in ret.lines}, target,
             f"return {ret.id}: {ret.reason[:100]}", actor)  # fmt: skip
    ret.status, ret.warehouse_id, ret.putaway_at = ReturnStatus.putaway, target, utcnow()
    orders.change_status(session, ret.order_id, S.Return_Putaway, actor=actor, note=f"return {ret.id} put away")
    return ret


def complete_return(session: Session, return_id: int, *, actor: str | None = None) -> Return:
    """Closes an approved (not restocked) or put-away return; the order goes Return_completed."""
    ret = get_return(session, return_id)
    _expect(ret, ReturnStatus.approved, ReturnStatus.putaway)
    ret.status, ret.completed_at = ReturnStatus.completed, utcnow()
    orders.change_status(session, ret.order_id, S.Return_completed, actor=actor, note=f"return {ret.id} completed")
    return ret


def returns_of(session: Session, order_id: int) -> list[Return]:
    return list(session.scalars(select(Return).where(Return.order_id == order_id).order_by(Return.id)))


def list_returns(
    session: Session, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Return], int]:
    stmt = select(Return)
    counted = select(func.count()).select_from(Return)
    if status:
        try:
            st = ReturnStatus(status)
        except ValueError:
            raise Invalid(
                "status", f"Unknown return status {status!r}; use one of {[s.value for s in ReturnStatus]}."
            ) from None
        stmt, counted = stmt.where(Return.status == st), counted.where(Return.status == st)
    total = int(session.scalar(counted) or 0)
    rows = list(session.scalars(stmt.order_by(Return.created_at.desc(), Return.id.desc()).limit(limit).offset(offset)))
    return rows, total


def open_parcel_statuses() -> frozenset[ParcelStatus]:
    return OPEN_PARCEL
