"""Pushing stock to Rakuten: the outbox pusher, Sync Stock (every listed SKU) and the reconciliation.

- `push_dirty` (job `rakuten.stock`): claims the store's dirty (store, SKU) rows, computes each quantity
  at that moment (`kura.inventory.channel_stock.store_quantities`), and sends ABSOLUTE values through
  inventories.bulk.upsert, ≤ 400 a call. A row is cleared only if it was not marked again meanwhile
  (outbox generation), so a change made during a push is pushed next. Once the outbox is empty the pusher
  lingers a few seconds: commits in this process wake it directly, others are seen by a short poll, so a
  burst of changes is coalesced into one call per rate-limit slot.
- `sync_stock` (job `rakuten.stock.sync`): every listed SKU (or the given ones), with progress; it holds
  the pusher's lease so an older value can never overtake a newer one, and drains the outbox at the end.
- `reconcile` (job `rakuten.stock.reconcile`, nightly by default): reads Rakuten's quantities
  (inventories.bulk.get, ≤ 1000 a call), stores the drift per SKU and marks drifted SKUs for a push.

Failures: a record RMS rejects is found (by the error's propertyPath, else by bisecting the batch), logged
with the reason and a hint, and retried alone later; the rest of the batch goes through. A 503/429/5xx the
client could not ride out pauses the store's pushes (nothing is lost: the rows stay dirty); a 401 marks the
store as needing attention and pauses them until its key is updated.

Never inside a database write transaction: every RMS call runs between short transactions.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from kura.catalog.models import Sku
from kura.channels.rakuten.client import InventoryUpdate, RmsClient
from kura.channels.rakuten.errors import NotFound as RmsNotFound
from kura.channels.rakuten.errors import Permanent, Retryable, RmsError, Suspended
from kura.db import Database, utcnow
from kura.errors import Invalid, StoreGone
from kura.inventory import channel_stock
from kura.inventory.channel_stock import OUTBOX_KIND, PUSH_JOB, ChannelStock, store_quantities
from kura.jobs import outbox
from kura.jobs.leases import Lease, LeaseHeld, lease
from kura.jobs.registry import Progress, job_database, job_kind, sweep
from kura.sqlrows import among, insert_rows
from kura.stores.models import Binding, BindingEntity, Channel, Store, StoreStatus, SyncLogEntry
from kura.stores.service import store_client

log = logging.getLogger(__name__)

SYNC_JOB = "rakuten.stock.sync"
RECONCILE_JOB = "rakuten.stock.reconcile"
BATCH = 400  # inventories.bulk.upsert
READ_BATCH = 1000  # inventories.bulk.get
# An idle pusher waits this long for more changes before it ends. It holds a worker thread meanwhile, so a
# long linger across many stores starves the order polls (the chaos test saw pushers take 95% of worker time).
LINGER_S = float(os.environ.get("KURA_STOCK_LINGER_S", "3"))
POLL_S = 0.25  # while lingering, how often changes committed by other processes are looked for
PAUSE_S = 30.0  # first pause after RMS could not be reached; doubles up to PAUSE_MAX_S
PAUSE_MAX_S = 300.0
SUSPENDED_RECHECK_S = 60.0  # a store needing attention is looked at again this often
RECONCILE_INTERVAL_S = 86_400
RECONCILE_MIN_S, RECONCILE_MAX_S = 60, 30 * 86_400  # a configured interval: every minute at most, monthly at least
RECONCILE_AT_JST = 3  # the nightly reconciliation runs at 03:00 JST
STALE_S = 5.0  # a due row untouched this long lost its wake-up: the sweeper kicks its store
_JST = ZoneInfo("Asia/Tokyo")
_REJECTED = "rejected: "
_PAUSED = "paused: "
_INDEX = re.compile(r"inventories\[(\d+)\]")


# --------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One listed SKU and the quantity Rakuten should show."""

    sku_id: int
    code: str
    manage_number: str
    variant_id: str
    quantity: int
    ours: int | None = None  # Kura's own quantity when the sales guard sends less (None: `quantity`)

    def update(self) -> InventoryUpdate:
        return InventoryUpdate(self.manage_number, self.variant_id, self.quantity)


def _rakuten_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise StoreGone(f"No store with id {store_id}.")
    if store.channel != Channel.rakuten:
        raise Invalid("store_id", f"Store {store.name!r} is a {store.channel} store; only Rakuten stores get stock.")
    return store


def _bound(session: Session, store_id: int, codes: Sequence[str] | None = None) -> list[tuple[int, str, str, str]]:
    """(sku id, code, manageNumber, variantId) of the store's listed SKUs (all, or these codes)."""
    stmt = (
        select(Sku.id, Sku.code, Binding.external_id, Binding.data)
        .join(Binding, Binding.local_id == Sku.id)
        .where(Binding.store_id == store_id, Binding.entity == BindingEntity.sku)
    )
    rows: list[Any] = []
    if codes is None:
        rows = list(session.execute(stmt.order_by(Sku.id)))
    else:
        wanted = list(dict.fromkeys(codes))
        for i in range(0, len(wanted), 500):
            rows.extend(session.execute(stmt.where(among(Sku.code, wanted[i : i + 500], session))))
    found = []
    for sku_id, code, external_id, data in rows:
        manage_number, _, variant_id = external_id.partition("/")
        data = data or {}
        found.append((sku_id, code, data.get("manage_number") or manage_number, data.get("variant_id") or variant_id))
    return found


def targets(session: Session, store_id: int, codes: Sequence[str] | None = None) -> dict[str, Target]:
    """SKU code → what to send, for the store's listed SKUs among `codes` (all listed when None)."""
    bound = _bound(session, store_id, codes)
    quantities = store_quantities(session, store_id, [b[0] for b in bound])
    return {code: Target(sku_id, code, mn, vid, quantities[sku_id].quantity) for sku_id, code, mn, vid in bound}


# --------------------------------------------------------------------------------------------- sending


@dataclass
class Sent:
    ok: list[Target] = field(default_factory=list)
    rejected: list[tuple[Target, Permanent]] = field(default_factory=list)
    calls: int = 0


def _bad_indexes(error: RmsError, size: int) -> set[int]:
    """The records an RMS validation error names (its propertyPath `inventories[i]…`)."""
    found: set[int] = set()
    body = error.response if isinstance(error.response, dict) else {}
    for entry in body.get("errors") or []:
        if isinstance(entry, dict):
            path = str((entry.get("metadata") or {}).get("propertyPath") or "") + " " + str(entry.get("message") or "")
            found.update(int(m) for m in _INDEX.findall(path) if int(m) < size)
    return found


def send(rms: RmsClient, batch: Sequence[Target], result: Sent | None = None) -> Sent:
    """bulk.upsert of ≤ 400 targets; a record RMS rejects is set aside and the rest sent again.

    The bad records are those the error names; when it names none, the batch is halved until they are found.
    Retryable and Suspended propagate (nothing of a refused call was applied)."""
    result = result if result is not None else Sent()
    if not batch:
        return result
    try:
        result.calls += 1
        rms.bulk_upsert_inventories([t.update() for t in batch])
    except (Permanent, RmsNotFound) as exc:
        error = exc if isinstance(exc, Permanent) else Permanent(exc.message, function=exc.function,
                                                                  status=exc.status, codes=exc.codes)  # fmt: skip
        if len(batch) == 1:
            result.rejected.append((batch[0], error))
            return result
        bad = _bad_indexes(exc, len(batch))
        if bad and len(bad) < len(batch):
            result.rejected.extend((batch[i], error) for i in sorted(bad))
            return send(rms, [t for i, t in enumerate(batch) if i not in bad], result)
        half = len(batch) // 2
        send(rms, batch[:half], result)
        return send(rms, batch[half:], result)
    result.ok.extend(batch)
    return result


def record_pushed(session: Session, store_id: int, pushed: Sequence[Target], at: dt.datetime,
                  seen: Mapping[int, Last] | None = None) -> None:  # fmt: skip
    """Remembers the quantity last pushed per (store, SKU), for the UI and the sales guard; the order units
    the push accounted for (`seen`, read with its quantities) are taken off the SKU's count."""
    if not pushed:
        return
    table = cast(Table, ChannelStock.__table__)

    def upsert(stmt: Any) -> Any:
        return stmt.on_conflict_do_update(
            index_elements=["store_id", "sku_id"],
            set_={"pushed_qty": stmt.excluded.pushed_qty, "pushed_at": stmt.excluded.pushed_at,
                  "basis_qty": stmt.excluded.basis_qty,
                  "order_units": table.c.order_units - stmt.excluded.order_units},
        )  # fmt: skip

    seen = seen or {}
    insert_rows(session, table, [{"store_id": store_id, "sku_id": t.sku_id, "pushed_qty": t.quantity, "pushed_at": at,
                                  "basis_qty": t.quantity if t.ours is None else t.ours,
                                  "order_units": seen[t.sku_id].order_units if t.sku_id in seen else 0}
                                 for t in sorted({t.sku_id: t for t in pushed}.values(), key=lambda t: t.sku_id)],
                conflict=upsert)  # fmt: skip  (lock order: by SKU; each SKU once)


# --------------------------------------------------------------------------------------------- the sales guard


@dataclass(frozen=True)
class Last:
    """What Kura last pushed for a (store, SKU), its own quantity then, and its orders of the SKU held since."""

    pushed_qty: int | None
    order_units: int
    basis_qty: int | None = None


def last_pushes(session: Session, store_id: int, sku_ids: Sequence[int]) -> dict[int, Last]:
    found: dict[int, Last] = {}
    ids = sorted(set(sku_ids))
    for i in range(0, len(ids), 500):
        for sku_id, pushed, units, basis in session.execute(
            select(ChannelStock.sku_id, ChannelStock.pushed_qty, ChannelStock.order_units, ChannelStock.basis_qty)
            .where(ChannelStock.store_id == store_id, among(ChannelStock.sku_id, ids[i : i + 500], session))
        ):  # fmt: skip
            found[sku_id] = Last(pushed, units or 0, basis if basis is not None else pushed)
    return found


def guarded(rms: RmsClient, found: Mapping[str, Target], last: Mapping[int, Last]) -> tuple[dict[str, Target], int]:
    """The quantities to send so that a push never offers again what Rakuten sold and Kura has not imported yet.

    Rakuten takes a sold unit off its own count at once; Kura learns of the order at its next order poll (every
    5 minutes by default). An ABSOLUTE push of Kura's quantity in between would put those units back on sale.
    So, for a SKU Kura pushed to before, when its own quantity was B, Rakuten's quantity R is read
    (inventories.bulk.get) and what is sent is min(ours, R + (ours − B) + units) — Rakuten's count moved by what
    changed in Kura since that push, where `units` are the store's own orders of the SKU that Kura first held
    meanwhile (Rakuten counted those already). B, not what was sent: units held back then stay held back until
    their orders are imported. It never exceeds Kura's own quantity. Returns the targets and the units held back."""
    known = {code: t for code, t in found.items() if last.get(t.sku_id, Last(None, 0)).pushed_qty is not None}
    if not known:
        return dict(found), 0
    theirs: dict[tuple[str, str], int] = {}
    keys = [(t.manage_number, t.variant_id) for t in known.values()]
    for i in range(0, len(keys), READ_BATCH):
        for r in rms.bulk_get_inventories(keys[i : i + READ_BATCH]):
            if isinstance(r.get("quantity"), int):
                theirs[(str(r.get("manageNumber", "")).lower(), str(r.get("variantId")))] = r["quantity"]
    result, held = dict(found), 0
    for code, t in known.items():
        rakuten = theirs.get((t.manage_number.lower(), t.variant_id))
        if rakuten is None:
            continue  # not on Rakuten (yet): ours
        seen = last[t.sku_id]
        basis = seen.basis_qty if seen.basis_qty is not None else seen.pushed_qty
        assert basis is not None
        quantity = max(0, min(t.quantity, rakuten + (t.quantity - basis) + seen.order_units))
        if quantity != t.quantity:
            held += t.quantity - quantity
            result[code] = Target(t.sku_id, t.code, t.manage_number, t.variant_id, quantity, ours=t.quantity)
    return result, held


def sales_guard(store: Store) -> bool:
    """On unless the store's settings say `"stock_sales_guard": false`."""
    return (store.settings or {}).get("stock_sales_guard", True) is not False


def set_sales_guard(session: Session, store_id: int, on: bool) -> None:
    """Turns the store's sales guard on or off (`settings["stock_sales_guard"]`)."""
    store = _rakuten_store(session, store_id)
    store.settings = {**(store.settings or {}), "stock_sales_guard": bool(on)}


def _log_rejected(session: Session, store_id: int, run_id: int | None,
                  rejected: Sequence[tuple[Target, Permanent]]) -> None:  # fmt: skip
    for target, error in rejected:
        session.add(SyncLogEntry(
            store_id=store_id, run_id=run_id, kind="stock", level="error", function="inventories.bulk.upsert",
            entity_ref=target.code[:200],
            message=f"Stock of {target.code} ({target.manage_number}/{target.variant_id} = {target.quantity}) "
                    f"was refused: {error.message}"[:4000],
            hint="Check the SKU's binding on Rakuten (manage number and variant id must exist and be valid: "
                 "a-z 0-9 - _, ≤ 32 bytes). Kura retries it alone with a back-off; Sync Stock with this SKU "
                 "retries it now.",
            status_code=error.status, response=error.response,
            retry={"kind": SYNC_JOB, "skus": [target.code]},
        ))  # fmt: skip


def _resolve(session: Session, store_id: int, codes: Sequence[str]) -> None:
    if not codes:
        return
    from kura.stores.service import resolve_entries

    for i in range(0, len(codes), 500):
        resolve_entries(session, store_id, codes[i : i + 500], kind="stock")


# --------------------------------------------------------------------------------------------- pausing


def pause_store(db: Database, store_id: int, seconds: float, reason: str) -> None:
    """Holds back every dirty row of the store for `seconds` (nothing is dropped)."""
    until = utcnow() + dt.timedelta(seconds=seconds)
    with db.transaction() as s:
        s.execute(
            update(outbox.OutboxRow)
            .where(outbox.OutboxRow.store_id == store_id, outbox.OutboxRow.kind == OUTBOX_KIND,
                   outbox.OutboxRow.next_attempt_at < until)
            .values(next_attempt_at=until, last_error=(_PAUSED + reason)[: outbox.ERROR_TEXT_MAX])
        )  # fmt: skip


_pauses: dict[int, int] = {}  # store → consecutive pauses (this process), for the back-off
_paused_until: dict[int, float] = {}  # store → monotonic time its pause ends (this process)


def _pause_for(store_id: int) -> float:
    n = _pauses.get(store_id, 0)
    _pauses[store_id] = n + 1
    seconds = min(PAUSE_MAX_S, PAUSE_S * 2**n)
    _paused_until[store_id] = time.monotonic() + seconds
    return seconds


def resume(store_id: int) -> None:
    """Forgets this process's pause of the store (an operator's "push now", tests)."""
    _pauses.pop(store_id, None)
    _paused_until.pop(store_id, None)


# --------------------------------------------------------------------------------------------- the pusher


@dataclass
class Counts:
    pushed: int = 0
    rejected: int = 0
    gone: int = 0
    calls: int = 0
    paused: bool = False
    held_back: int = 0  # units the sales guard did not offer (sold on Rakuten, not imported yet)

    def to_dict(self) -> dict[str, Any]:
        found = {"pushed": self.pushed, "rejected": self.rejected, "gone": self.gone, "calls": self.calls,
                 "paused": self.paused}  # fmt: skip
        if self.held_back:
            found["held_back"] = self.held_back
        return found


def _store_ready(db: Database, store_id: int) -> Store | None:
    """The store, detached, if pushes may go to it now; else its rows are paused and None returned."""
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        s.expunge(store)
    if store.status != StoreStatus.active:
        pause_store(db, store_id, SUSPENDED_RECHECK_S, f"store is {store.status.value}")
        return None
    left = _paused_until.get(store_id, 0.0) - time.monotonic()
    if left > 0:  # changes made during a pause wait for its end, so RMS is not asked again at once
        pause_store(db, store_id, left, "RMS could not be reached; waiting for the pause to end")
        return None
    return store


def _push_rows(db: Database, store_id: int, rms: RmsClient, rows: Sequence[outbox.Claimed], counts: Counts,
               run_id: int | None = None, guard: bool = True) -> None:  # fmt: skip
    """One claimed batch: compute (with the sales guard), send, then clear / fail / log in one short transaction."""
    with db.reader() as s:  # one snapshot: the quantities and the order units they already reflect
        found = targets(s, store_id, [r.key for r in rows])
        last = last_pushes(s, store_id, [t.sku_id for t in found.values()])
    if guard:
        found, held = guarded(rms, found, last)
        counts.held_back += held
    by_code = {r.key: r for r in rows}
    gone = [r for r in rows if r.key not in found]
    retries = [found[r.key] for r in rows if r.key in found and (r.last_error or "").startswith(_REJECTED)]
    fresh = [found[r.key] for r in rows if r.key in found and not (r.last_error or "").startswith(_REJECTED)]
    result = send(rms, fresh)
    for target in retries:  # a record refused before goes alone, so it can't hold back the others again
        send(rms, [target], result)
    now = utcnow()
    with db.transaction() as s:
        outbox.complete(s, gone + [by_code[t.code] for t in result.ok])
        record_pushed(s, store_id, result.ok, now, last)
        for target, error in result.rejected:
            outbox.fail(s, by_code[target.code], _REJECTED + error.message, now=now)
        _log_rejected(s, store_id, run_id, result.rejected)
        _resolve(s, store_id, [t.code for t in result.ok if by_code[t.code].attempts])
    counts.pushed += len(result.ok)
    counts.rejected += len(result.rejected)
    counts.gone += len(gone)
    counts.calls += result.calls


def _sync_wanted(db: Database, store_id: int) -> bool:
    """A Sync Stock of the store waits for the pusher's lease: the pusher should stop lingering."""
    from kura.jobs.runs import lease_name

    with db.reader() as s:
        expires = s.scalar(select(Lease.expires_at).where(Lease.name == lease_name(SYNC_JOB, store_id)))
    return expires is not None and expires > utcnow()


def push_dirty(db: Database, store_id: int, *, client: RmsClient | None = None, progress: Progress | None = None,
               linger_s: float = 0.0, run_id: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Pushes the store's dirty SKUs until none is due (then lingers `linger_s` for more)."""
    counts = Counts()
    store = _store_ready(db, store_id)
    if store is None:
        counts.paused = True
        return counts.to_dict()
    waker = channel_stock.register_local(store_id)
    try:
        with store_client(db, store, client) as rms:
            _drain(db, store_id, rms, counts, progress, linger_s, waker, run_id, sales_guard(store))
    except Suspended as exc:
        from kura.stores.service import mark_needs_attention

        mark_needs_attention(db, store_id, str(exc))
        pause_store(db, store_id, SUSPENDED_RECHECK_S, str(exc))
        counts.paused = True
    except (Retryable, RmsError) as exc:
        seconds = _pause_for(store_id)
        log.warning("store %s: stock pushes paused %.0f s: %s", store_id, seconds, exc)
        pause_store(db, store_id, seconds, str(exc))
        with db.transaction() as s:
            s.add(SyncLogEntry(store_id=store_id, run_id=run_id, kind="stock", level="warning",
                               function=exc.function, message=f"Stock pushes paused for {seconds:.0f} s: {exc}"[:4000],
                               hint="RMS could not be reached (maintenance, throttling or an outage). Nothing is lost: "
                                    "the changes stay queued and are pushed when RMS answers again.",
                               status_code=exc.status))  # fmt: skip
        counts.paused = True
    finally:
        channel_stock.unregister_local(store_id, waker)
    return counts.to_dict()


def _wait_for_slot(rms: RmsClient) -> None:
    """Waits until bulk.upsert may be called, without taking the slot: the quantities are then computed
    right before the call, so a change made while waiting still goes out in it."""
    limiter = getattr(rms, "_limiter", None)
    strategy = getattr(limiter, "_strategy", None)
    if limiter is None or strategy is None:
        return
    item = limiter.rate_for("inventories.bulk.upsert")
    for _ in range(100):
        stats = strategy.get_window_stats(item, "kura-rms", rms.store_key, "inventories.bulk.upsert")
        if stats.remaining > 0:
            return
        time.sleep(max(stats.reset_time - time.time(), 0.0) + getattr(limiter, "_margin", 0.05))


def _drain(db: Database, store_id: int, rms: RmsClient, counts: Counts, progress: Progress | None,
           linger_s: float, waker: Any, run_id: int | None, guard: bool = True) -> None:  # fmt: skip
    idle_since = time.monotonic()
    while True:
        waker.clear()
        if outbox.claim(db, store_id, OUTBOX_KIND, limit=1):
            _wait_for_slot(rms)
        rows = outbox.claim(db, store_id, OUTBOX_KIND, limit=BATCH)
        if rows:
            _push_rows(db, store_id, rms, rows, counts, run_id, guard)
            resume(store_id)
            if progress is not None:
                progress(counts.pushed + counts.rejected + counts.gone)
            idle_since = time.monotonic()
            if _sync_wanted(db, store_id):
                return  # Sync Stock takes over (and drains what is left)
            continue
        if time.monotonic() - idle_since >= linger_s or _sync_wanted(db, store_id):
            return
        waker.wait(POLL_S)


def _due_again(db: Database, store_id: int | None) -> bool:
    """After a pusher run let go of its lease: rows due now were marked after its last look (their wake-up went
    to it, or their kick was skipped while it held the lease); push them now rather than at the next sweep.
    Not while a Sync Stock waits for the lease: it drains the outbox itself."""
    return store_id is not None and bool(outbox.claim(db, store_id, OUTBOX_KIND, limit=1)) \
        and not _sync_wanted(db, store_id)  # fmt: skip


@job_kind(PUSH_JOB, lease_ttl_s=120, again=_due_again)
def _push_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    if store_id is None:
        raise ValueError(f"{PUSH_JOB} runs per store")
    db = job_database()
    from kura.jobs.schedules import JobSchedule

    with db.reader() as s:  # a reader first: a pusher started during a burst should not queue for the write lock
        scheduled = s.scalar(select(JobSchedule.id).where(JobSchedule.kind == RECONCILE_JOB,
                                                          JobSchedule.store_id == store_id))  # fmt: skip
    if scheduled is None:
        with db.transaction() as s:
            ensure_reconcile_schedule(s, store_id)
    return push_dirty(db, store_id, progress=progress, linger_s=LINGER_S, run_id=getattr(progress, "run_id", None))


# --------------------------------------------------------------------------------------------- Sync Stock


@contextmanager
def _push_lease(db: Database, store_id: int, wait_s: float = LINGER_S + 120) -> Iterator[None]:
    """The pusher's lease, waited for: a lingering pusher sees the Sync Stock lease and lets go."""
    from kura.jobs.runs import lease_name

    deadline = time.monotonic() + wait_s
    while True:
        try:
            with lease(db, lease_name(PUSH_JOB, store_id), 120):
                yield
                return
        except LeaseHeld as exc:
            if exc.name != lease_name(PUSH_JOB, store_id) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def request_sync(db: Database, store_id: int, kind: str = SYNC_JOB, skus: Sequence[str] | None = None) -> int:
    """A queued Sync Stock (or reconciliation) run the UI can show at once; send it with `launch`."""
    from kura.jobs.runs import queue_run

    with db.transaction() as s:
        _rakuten_store(s, store_id)
        run = queue_run(s, kind, store_id)
        if skus:
            run.counts = {"skus": list(skus)}
        return run.id


def sync_stock(db: Database, store_id: int, *, client: RmsClient | None = None, progress: Progress | None = None,
               skus: Sequence[str] | None = None, run_id: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Pushes every listed SKU of the store (or only `skus`), 400 a call, with progress."""
    counts = Counts()
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        s.expunge(store)
        bound = [code for _, code, _, _ in _bound(s, store_id, list(skus) if skus else None)]
    if store.status != StoreStatus.active:
        raise Invalid("store", f"Store {store.name!r} is {store.status.value}; update its key first.")
    if progress is not None:
        progress(0, len(bound))
    with _push_lease(db, store_id), store_client(db, store, client) as rms:
        try:
            for i in range(0, len(bound), BATCH):
                chunk = bound[i : i + BATCH]
                with db.reader() as s:  # read the marks before computing: a later change stays dirty
                    marks = [outbox.Claimed(r.id, r.store_id, r.kind, r.key, r.generation, r.attempts, r.last_error)
                             for r in s.scalars(select(outbox.OutboxRow).where(
                                 outbox.OutboxRow.store_id == store_id, outbox.OutboxRow.kind == OUTBOX_KIND,
                                 outbox.OutboxRow.key.in_(chunk)))]  # fmt: skip
                    found = targets(s, store_id, chunk)
                    last = last_pushes(s, store_id, [t.sku_id for t in found.values()])
                result = send(rms, [found[c] for c in chunk if c in found])
                by_code = {m.key: m for m in marks}
                now = utcnow()
                with db.transaction() as s:
                    outbox.complete(s, [by_code[t.code] for t in result.ok if t.code in by_code])
                    record_pushed(s, store_id, result.ok, now, last)
                    for target, error in result.rejected:
                        if target.code in by_code:
                            outbox.fail(s, by_code[target.code], _REJECTED + error.message, now=now)
                        else:
                            outbox.mark_dirty(s, store_id, OUTBOX_KIND, target.code, kick=False)
                    _log_rejected(s, store_id, run_id, result.rejected)
                    _resolve(s, store_id, [t.code for t in result.ok])
                counts.pushed += len(result.ok)
                counts.rejected += len(result.rejected)
                counts.calls += result.calls
                if progress is not None:
                    progress(min(i + BATCH, len(bound)), len(bound))
            _drain(db, store_id, rms, counts, None, 0.0, channel_stock.register_local(store_id), run_id,
                   sales_guard(store))
        except Suspended as exc:
            from kura.stores.service import mark_needs_attention

            mark_needs_attention(db, store_id, str(exc))
            raise
    return counts.to_dict()


@job_kind(SYNC_JOB, lease_ttl_s=300)
def _sync_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    if store_id is None:
        raise ValueError(f"{SYNC_JOB} runs per store")
    db = job_database()
    run_id = getattr(progress, "run_id", None)
    skus = _requested_skus(db, run_id)
    return sync_stock(db, store_id, progress=progress, skus=skus, run_id=run_id)


def _requested_skus(db: Database, run_id: int | None) -> list[str] | None:
    if run_id is None:
        return None
    from kura.jobs.runs import JobRun

    with db.reader() as s:
        run = s.get(JobRun, run_id)
        skus = (run.counts or {}).get("skus") if run is not None else None
    return list(skus) if skus else None


# --------------------------------------------------------------------------------------------- reconciliation


def next_night(now: dt.datetime | None = None) -> dt.datetime:
    """The next RECONCILE_AT_JST o'clock in Japan, in UTC."""
    local = (now or utcnow()).astimezone(_JST)
    run = local.replace(hour=RECONCILE_AT_JST, minute=0, second=0, microsecond=0)
    if run <= local:
        run += dt.timedelta(days=1)
    return run.astimezone(dt.UTC)


def ensure_reconcile_schedule(session: Session, store_id: int, interval_s: int | None = None) -> None:
    """The store's reconciliation schedule: nightly unless configured (`interval_s`, 0 = off)."""
    from kura.jobs.schedules import JobSchedule, ensure_schedule, set_enabled

    if interval_s is not None and (isinstance(interval_s, bool) or not isinstance(interval_s, int)
                                   or (interval_s and not RECONCILE_MIN_S <= interval_s <= RECONCILE_MAX_S)):
        raise Invalid("reconcile_interval_s", f"The reconciliation interval is 0 (off) or {RECONCILE_MIN_S}–"
                                              f"{RECONCILE_MAX_S} seconds; got {interval_s!r}.")  # fmt: skip
    exists = session.scalar(select(JobSchedule.id).where(JobSchedule.kind == RECONCILE_JOB,
                                                         JobSchedule.store_id == store_id))  # fmt: skip
    if interval_s is None:
        if exists is None:
            ensure_schedule(session, RECONCILE_JOB, store_id, RECONCILE_INTERVAL_S, first_run_at=next_night())
    elif interval_s == 0:
        set_enabled(session, RECONCILE_JOB, store_id, False)
    else:
        ensure_schedule(session, RECONCILE_JOB, store_id, interval_s, enabled=True,
                        first_run_at=utcnow() + dt.timedelta(seconds=interval_s))  # fmt: skip


def reconcile(db: Database, store_id: int, *, client: RmsClient | None = None, progress: Progress | None = None,
              correct: bool = True) -> dict[str, Any]:  # fmt: skip
    """Reads Rakuten's quantity of every listed SKU, stores the drift (theirs − ours) and, if `correct`,
    marks drifted SKUs dirty so the pusher sends Kura's value."""
    with db.reader() as s:
        store = _rakuten_store(s, store_id)
        s.expunge(store)
        bound = _bound(s, store_id)
    counts = {"checked": 0, "drifted": 0, "missing": 0, "corrected": 0}
    if progress is not None:
        progress(0, len(bound))
    with store_client(db, store, client) as rms:
        for i in range(0, len(bound), READ_BATCH):
            chunk = bound[i : i + READ_BATCH]
            found = rms.bulk_get_inventories([(mn, vid) for _, _, mn, vid in chunk])
            theirs = {(str(r.get("manageNumber", "")).lower(), str(r.get("variantId"))): r.get("quantity")
                      for r in found}  # fmt: skip
            now = utcnow()
            with db.transaction() as s:
                ours = store_quantities(s, store_id, [b[0] for b in chunk])
                rows, drifted = [], []
                for sku_id, code, mn, vid in sorted(chunk):  # by SKU id: the lock order record_pushed uses
                    checked = theirs.get((mn.lower(), vid))
                    expected = ours[sku_id].quantity
                    drift = None if checked is None else int(checked) - expected
                    counts["missing"] += checked is None
                    if checked is None or drift:
                        drifted.append(code)
                    rows.append({"store_id": store_id, "sku_id": sku_id, "checked_qty": checked,
                                 "expected_qty": expected, "drift": drift, "checked_at": now})  # fmt: skip
                # Outbox rows before channel_stock rows, each in SKU order: the pusher locks them in the same
                # order (complete, then record_pushed), so the two never wait on each other in a cycle.
                if correct and drifted:
                    outbox.mark_dirty(s, store_id, OUTBOX_KIND, sorted(drifted), kick=False)
                    channel_stock._wake_after_commit(s, [store_id])
                    counts["corrected"] += len(drifted)
                insert_rows(s, cast(Table, ChannelStock.__table__), rows,
                            conflict=lambda stmt: stmt.on_conflict_do_update(index_elements=["store_id", "sku_id"],
                                set_={k: getattr(stmt.excluded, k)
                                      for k in ("checked_qty", "expected_qty", "drift", "checked_at")}))  # fmt: skip
                if correct and drifted:  # the correction is Kura's own quantity, not one guarded against sales
                    ids = [sku_id for sku_id, code, _, _ in chunk if code in set(drifted)]
                    s.execute(update(ChannelStock).where(ChannelStock.store_id == store_id,
                                                         ChannelStock.sku_id.in_(ids))
                              .values(pushed_qty=None, basis_qty=None, order_units=0))  # fmt: skip
                counts["checked"] += len(chunk)
                counts["drifted"] += len(drifted)
            if progress is not None:
                progress(min(i + READ_BATCH, len(bound)), len(bound))
    return counts


@job_kind(RECONCILE_JOB, lease_ttl_s=300)
def _reconcile_job(store_id: int | None, progress: Progress) -> dict[str, Any]:
    if store_id is None:
        raise ValueError(f"{RECONCILE_JOB} runs per store")
    return reconcile(job_database(), store_id, progress=progress)


@sweep("stock")
def sweep_stock(db: Database, now: dt.datetime) -> list[tuple[str, int | None]]:
    """Kicks the pusher of stores with stock rows due and untouched for STALE_S (a lost wake-up, a crash
    between commit and push, a pause that ended)."""
    with db.reader() as s:
        stores = s.scalars(
            select(outbox.OutboxRow.store_id)
            .where(outbox.OutboxRow.kind == OUTBOX_KIND,
                   outbox.OutboxRow.next_attempt_at <= now - dt.timedelta(seconds=STALE_S))
            .distinct()
        ).all()  # fmt: skip
    return [(PUSH_JOB, store_id) for store_id in stores]


# --------------------------------------------------------------------------------------------- status


@dataclass
class StockSyncStatus:
    pending: int
    paused_until: dt.datetime | None
    last_error: str | None
    last_pushed_at: dt.datetime | None
    drift: list[dict[str, Any]]
    checked_at: dt.datetime | None


def status(session: Session, store_id: int, *, drift_limit: int = 100) -> StockSyncStatus:
    """Pending pushes, the last push and the drift report of a store, for the UI and the API."""
    from sqlalchemy import func

    rows = session.execute(
        select(func.count(outbox.OutboxRow.id), func.max(outbox.OutboxRow.next_attempt_at))
        .where(outbox.OutboxRow.store_id == store_id, outbox.OutboxRow.kind == OUTBOX_KIND)
    ).one()  # fmt: skip
    paused = rows[1] if rows[1] is not None and rows[1] > utcnow() else None
    last_error = session.scalar(
        select(outbox.OutboxRow.last_error)
        .where(outbox.OutboxRow.store_id == store_id, outbox.OutboxRow.kind == OUTBOX_KIND,
               outbox.OutboxRow.last_error.is_not(None))
        .limit(1)
    )  # fmt: skip
    last = session.scalar(select(func.max(ChannelStock.pushed_at)).where(ChannelStock.store_id == store_id))
    checked = session.scalar(select(func.max(ChannelStock.checked_at)).where(ChannelStock.store_id == store_id))
    drift = [
        {"sku": code, "rakuten": c.checked_qty, "kura": c.expected_qty, "drift": c.drift, "checked_at": c.checked_at}
        for c, code in session.execute(
            select(ChannelStock, Sku.code).join(Sku, Sku.id == ChannelStock.sku_id)
            .where(ChannelStock.store_id == store_id, ChannelStock.checked_at.is_not(None),
                   (ChannelStock.drift != 0) | ChannelStock.drift.is_(None))
            .order_by(Sku.code).limit(drift_limit)
        )
    ]  # fmt: skip
    return StockSyncStatus(int(rows[0] or 0), paused, last_error, last, drift, checked)
