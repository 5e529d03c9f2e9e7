"""Store use cases: connect a Rakuten shop (credentials checked by a real call), update its key, its settings,
"needs attention" on a 401, the RMS client for a store with every call written to the sync log.

Connecting and updating the key call RMS *before* the write transaction opens (DESIGN rule 4): a slow or
failing RMS never holds a database lock, and bad credentials leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from kura.channels.rakuten.client import DEFAULT_BASE_URL, CallRecord, LicenseExpiry, RmsClient
from kura.channels.rakuten.errors import RmsError, Suspended
from kura.channels.rakuten.mapping import parse_shop_url
from kura.channels.rakuten.privacy import masked_for_log
from kura.config import get_settings
from kura.db import Database, utcnow
from kura.errors import Conflict, Invalid, KuraError, NotFound, StoreGone
from kura.inventory.models import Warehouse
from kura.jobs.schedules import JobSchedule, ensure_schedule, set_enabled
from kura.observability.metrics import record_rms_call
from kura.paging import Page, check_window, count
from kura.ratelimit import DEFAULT_RATE, RateLimiter, parse_rates
from kura.secrets import decrypt, encrypt, mask
from kura.stores.models import Channel, SkuSource, Store, StoreStatus, SyncLogEntry

log = logging.getLogger(__name__)

EXPIRY_WARNING_DAYS = 14
SECRET_MAX = 200
SettingsChanges = Mapping[str, Any]


class CredentialsRejected(KuraError):
    """RMS refused the License Key / Service Secret (HTTP 401): nothing was saved."""

    code = "credentials_rejected"
    status = 422


class RmsUnreachable(KuraError):
    """RMS could not be asked (network, 5xx, maintenance): nothing was saved; try again."""

    code = "rms_unreachable"
    status = 502


# ---------------------------------------------------------------- reading


def list_stores(session: Session) -> list[Store]:
    return list(session.scalars(select(Store).order_by(Store.id)))


def get_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise StoreGone(f"No store with id {store_id}.")
    return store


def get_store_by_name(session: Session, name: str) -> Store:
    store = session.scalar(select(Store).where(Store.name == name.strip()))
    if store is None:
        known = ", ".join(session.scalars(select(Store.name).order_by(Store.id))) or "none yet"
        raise NotFound(f"No store named {name!r}; known stores: {known}.")
    return store


def expiry_warning(store: Store, now: dt.datetime | None = None) -> bool:
    """True from EXPIRY_WARNING_DAYS before the licence key expires (and after)."""
    if store.license_expires_at is None:
        return False
    return store.license_expires_at - (now or utcnow()) <= dt.timedelta(days=EXPIRY_WARNING_DAYS)


def days_left(store: Store, now: dt.datetime | None = None) -> int | None:
    if store.license_expires_at is None:
        return None
    return (store.license_expires_at - (now or utcnow())).days


# ---------------------------------------------------------------- RMS client per store


@lru_cache(maxsize=4)
def _limiter(url: str, rates: str) -> RateLimiter:
    overrides = parse_rates(rates)
    default = overrides.pop("default", DEFAULT_RATE)
    return RateLimiter(url, rates=overrides, default=default)


def process_limiter() -> RateLimiter:
    """The process's rate limiter (memory:// embedded, redis:// shared), from KURA_RATE_LIMIT_URL, with the
    rates of KURA_RMS_RATES where it sets any."""
    settings = get_settings()
    return _limiter(settings.rate_limit_url, settings.rms_rates)


def store_key(store: Store) -> str:
    """Rate limits are kept per store; the shop code names it across processes."""
    return f"rakuten:{store.shop_code or store.id}"


_MAX_LOGGED_CHARS = 4000


def _bounded(body: Any) -> Any:
    """A body as the log keeps it: personal data masked, whole when small, else a preview (items.search pages
    are large)."""
    return masked_for_log(body, _MAX_LOGGED_CHARS)


class CallLog:
    """The on_call hook: buffers CallRecords and writes them to the sync log in batches, each batch one
    short transaction of its own, so that logging every call costs little next to the calls themselves."""

    def __init__(self, db: Database, store_id: int, run_id: int | None = None, *, batch: int = 50,
                 every_s: float = 2.0) -> None:  # fmt: skip
        self.db = db
        self.store_id = store_id
        self.run_id = run_id
        self.batch = batch
        self.every_s = every_s
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def __call__(self, record: CallRecord) -> None:
        record_rms_call(record)  # Prometheus: kura_rms_calls_total{function,outcome}, call durations
        ok = record.error is None
        passing = record.status in (None, 429) or (record.status or 0) >= 500  # retried by the client
        level = "info" if ok else ("warning" if passing else "error")
        row = {
            "store_id": self.store_id,
            "run_id": self.run_id,
            "kind": "call",
            "level": level,
            "function": record.function[:60],
            "entity_ref": None,
            "message": f"{record.method} {record.path} → {record.status or 'no answer'}"
            + (f" (attempt {record.attempt})" if record.attempt > 1 else "")
            + (f": {record.error}" if record.error else ""),
            "status_code": record.status,
            "duration_ms": int(record.duration_ms),
            "request": _bounded(record.request),
            "response": _bounded(record.response),
            "created_at": utcnow(),
        }
        with self._lock:
            self._rows.append(row)
            due = len(self._rows) >= self.batch or time.monotonic() - self._last >= self.every_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
            self._last = time.monotonic()
        if not rows:
            return
        try:
            with self.db.transaction() as s:
                s.execute(insert(SyncLogEntry), rows)
        except Exception:  # the log must never fail the sync it describes
            log.exception("could not write %d RMS call records for store %s", len(rows), self.store_id)


class StoreClient(RmsClient):
    """An RmsClient whose call log is flushed when it is closed."""

    call_log: CallLog | None = None

    def close(self) -> None:
        if self.call_log is not None:
            self.call_log.flush()
        super().close()


def client_for(store: Store, db: Database | None = None, *, run_id: int | None = None,
               limiter: RateLimiter | None = None, **options: Any) -> StoreClient:  # fmt: skip
    """The RMS client of a connected store: its decrypted keys, the process's rate limiter and, given a
    database, an on_call hook that writes every call (masked) to the sync log."""
    if store.channel != Channel.rakuten or not store.license_key_enc or not store.service_secret_enc:
        raise Invalid("store", f"Store {store.name!r} is not a connected Rakuten shop.")
    call_log = CallLog(db, store.id, run_id) if db is not None else None
    client = StoreClient(
        store.api_base_url or DEFAULT_BASE_URL,
        decrypt(store.service_secret_enc),
        decrypt(store.license_key_enc),
        store_key=store_key(store),
        limiter=limiter if limiter is not None else process_limiter(),
        on_call=call_log,
        **options,
    )
    client.call_log = call_log
    return client


StoreClientFactory = Callable[[Store, Database], RmsClient]
"""How the listing and stock jobs make a store's client: `factory(store, db)`."""


def _default_client(store: Store, db: Database) -> RmsClient:
    """The store's client: its keys, the process's rate limiter, every call in the sync log."""
    return client_for(store, db)


_client_factory: StoreClientFactory = _default_client


def set_client_factory(factory: StoreClientFactory | None) -> None:
    """Tests and benchmarks can swap how the listing and stock jobs make a store's RmsClient (None: client_for)."""
    global _client_factory
    _client_factory = factory or _default_client


def make_client(store: Store, db: Database) -> RmsClient:
    """A new client for the store from the current factory (client_for unless swapped); the caller closes it."""
    return _client_factory(store, db)


@contextmanager
def store_client(db: Database, store: Store, client: RmsClient | None = None) -> Iterator[RmsClient]:
    """The given client (left open), or a new one from `make_client` for the block, closed after it."""
    if client is not None:
        yield client
        return
    made = make_client(store, db)
    try:
        yield made
    finally:
        made.close()


def check_credentials(base_url: str, service_secret: str, license_key: str, key: str,
                      limiter: RateLimiter | None = None) -> LicenseExpiry:  # fmt: skip
    """One real RMS call with the given keys (the licence expiry date); raises CredentialsRejected or
    RmsUnreachable with what to do. Never call it inside a write transaction."""
    try:
        with RmsClient(base_url, service_secret, license_key, store_key=key,
                       limiter=limiter if limiter is not None else process_limiter(),
                       max_retries=2, backoff_base=0.5, timeout=15.0) as client:  # fmt: skip
            return client.get_license_expiry()
    except Suspended as exc:
        raise CredentialsRejected(
            "Rakuten rejected the License Key or Service Secret (HTTP 401). Check both in RMS "
            "(店舗様向け情報・サービス → WEB APIサービス), make sure the licence key has not expired and that "
            "license.expiryDate.get is enabled (利用機能編集); a new key can take up to 30 minutes to work. "
            "Nothing was saved.",
            rms_code=exc.code,
        ) from None
    except RmsError as exc:
        raise RmsUnreachable(
            f"Could not check the credentials with RMS at {base_url} ({exc.function}: {exc.message}). "
            "Nothing was saved; check the API base URL and try again.",
        ) from None


# ---------------------------------------------------------------- connect, update key


def _secret(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(field, f"{field.replace('_', ' ').capitalize()} is needed (from RMS → WEB APIサービス).")
    # RMS keys are ASCII; anything else cannot even go into the Authorization header (a 500, not a message).
    if len(text) > SECRET_MAX or not text.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise Invalid(field, f"{field.replace('_', ' ').capitalize()} looks wrong: copy it again from RMS, "
                             "without spaces or full-width characters.")
    return text


def _base_url(value: str | None) -> str:
    url = (value or "").strip().rstrip("/") or DEFAULT_BASE_URL
    if not url.startswith(("https://", "http://")) or len(url) > 255:
        raise Invalid("api_base_url", f"{url!r} is not an http(s) URL; leave it empty for {DEFAULT_BASE_URL}.")
    return url


def _name(value: str) -> str:
    name = (value or "").strip()
    if not name or len(name) > 100:
        raise Invalid("name", "A store name of 1–100 characters is needed.")
    return name


@dataclass(frozen=True)
class Connected:
    store_id: int
    run_id: int | None  # the product import queued on connect


def _default_warehouse(session: Session, store: Store) -> int:
    """The store's import warehouse; creates "RAKUTEN-<shop>" when none is set."""
    if store.import_warehouse_id is not None:
        return store.import_warehouse_id
    code = f"RAKUTEN-{store.shop_code or store.id}"[:50]
    warehouse = session.scalar(select(Warehouse).where(Warehouse.code == code))
    if warehouse is None:
        warehouse = Warehouse(code=code, name=f"{store.name} (Rakuten import)"[:255])
        session.add(warehouse)
        session.flush()
    store.import_warehouse_id = warehouse.id
    return warehouse.id


def ensure_import_warehouse(db: Database, store_id: int) -> int:
    with db.transaction() as s:
        return _default_warehouse(s, get_store(s, store_id))


def connect_rakuten(
    db: Database,
    *,
    name: str,
    shop_url: str,
    license_key: str,
    service_secret: str,
    api_base_url: str | None = None,
    import_products: bool = True,
    limiter: RateLimiter | None = None,
) -> Connected:
    """Checks the credentials with RMS, then saves the store (secrets encrypted), its import warehouse and,
    if asked, a queued product import. The caller sends the import (`kura.jobs.queue.enqueue`) after this
    returns, so that the job finds the store committed."""
    name = _name(name)
    shop_code = parse_shop_url(shop_url)
    license_key = _secret(license_key, "license_key")
    service_secret = _secret(service_secret, "service_secret")
    base_url = _base_url(api_base_url)
    with db.reader() as s:
        if s.scalar(select(Store.id).where(Store.name == name)) is not None:
            raise Conflict(f"A store named {name!r} exists already.", field="name")
    expiry = check_credentials(base_url, service_secret, license_key, f"rakuten:{shop_code}", limiter)
    from kura.jobs.runs import queue_run

    with db.transaction() as s:
        if s.scalar(select(Store.id).where(Store.name == name)) is not None:
            raise Conflict(f"A store named {name!r} exists already.", field="name")
        store = Store(
            name=name,
            channel=Channel.rakuten,
            status=StoreStatus.active,
            shop_code=shop_code,
            api_base_url=base_url,
            license_key_enc=encrypt(license_key),
            service_secret_enc=encrypt(service_secret),
            license_key_hint=mask(license_key),
            license_expires_at=expiry.expires_at,
            sku_source=SkuSource.merchant_defined,
            settings={},
        )
        s.add(store)
        s.flush()
        _default_warehouse(s, store)
        run_id = queue_run(s, IMPORT_KIND, store.id).id if import_products else None
        log.info("store %s connected (shop %s, key %s)", store.id, shop_code, store.license_key_hint)
        return Connected(store.id, run_id)


def update_key(db: Database, store_id: int, license_key: str, service_secret: str | None = None,
               *, limiter: RateLimiter | None = None) -> Store:  # fmt: skip
    """Re-checks with the new key (and secret, if given), saves them, and resumes a store that needed attention."""
    license_key = _secret(license_key, "license_key")
    with db.reader() as s:
        store = get_store(s, store_id)
        if store.channel != Channel.rakuten:
            raise Invalid("store", f"Store {store.name!r} is not a Rakuten shop; it has no key.")
        if service_secret:
            secret = _secret(service_secret, "service_secret")
        else:
            secret = decrypt(store.service_secret_enc or "")
        base_url, key = store.api_base_url or DEFAULT_BASE_URL, store_key(store)
    expiry = check_credentials(base_url, secret, license_key, key, limiter)
    with db.transaction() as s:
        store = get_store(s, store_id)
        store.license_key_enc = encrypt(license_key)
        store.service_secret_enc = encrypt(secret)
        store.license_key_hint = mask(license_key)
        store.license_expires_at = expiry.expires_at
        if store.status == StoreStatus.needs_attention:
            store.status = StoreStatus.active
            store.status_reason = None
        _set_schedules(s, store.id, enabled=True)
        s.flush()
        return store


def create_manual_store(session: Session, name: str) -> Store:
    """A store without a channel connection (orders typed in by hand)."""
    name = _name(name)
    if session.scalar(select(Store.id).where(Store.name == name)) is not None:
        raise Conflict(f"A store named {name!r} exists already.", field="name")
    store = Store(name=name, channel=Channel.manual, settings={})
    session.add(store)
    session.flush()
    return store


# ---------------------------------------------------------------- status and schedules


def _set_schedules(session: Session, store_id: int, *, enabled: bool) -> list[str]:
    kinds = list(session.scalars(select(JobSchedule.kind).where(JobSchedule.store_id == store_id)))
    for kind in kinds:
        set_enabled(session, kind, store_id, enabled)
    return kinds


def mark_needs_attention(db: Database, store_id: int, reason: str) -> None:
    """A 401: the store needs attention and its scheduled jobs pause until the key is updated."""
    with db.transaction() as s:
        store = s.get(Store, store_id)
        if store is None:
            return
        store.status = StoreStatus.needs_attention
        store.status_reason = reason[:2000]
        paused = _set_schedules(s, store_id, enabled=False)
        s.add(SyncLogEntry(store_id=store_id, kind="store", level="error", message=reason[:2000],
                           hint="Update the store's licence key (Integrations → the store → Update key); "
                                "its jobs resume once RMS accepts it.",
                           response={"paused_jobs": paused}))  # fmt: skip
    log.warning("store %s needs attention: %s", store_id, reason)


def require_active(store: Store) -> None:
    if store.status != StoreStatus.active:
        raise KuraError(
            f"Store {store.name!r} is {store.status.value.replace('_', ' ')}"
            + (f" ({store.status_reason})" if store.status_reason else "")
            + "; update its key (or resume it) first.",
            store=store.id,
        )


# ---------------------------------------------------------------- settings

SETTING_KEYS = {"sku_source", "import_warehouse_id", "intervals", "name"}
MIN_INTERVAL_S = 60


def update_settings(session: Session, store_id: int, changes: SettingsChanges) -> Store:
    """Changes the SKU field, the import warehouse, the name, and job intervals ({kind: seconds}; 0 = off)."""
    store = get_store(session, store_id)
    unknown = set(changes) - SETTING_KEYS
    if unknown:
        raise Invalid(sorted(unknown)[0], f"Can't change {sorted(unknown)}; changeable: {sorted(SETTING_KEYS)}.")
    if "name" in changes:
        name = _name(changes["name"])
        if session.scalar(select(Store.id).where(Store.name == name, Store.id != store.id)) is not None:
            raise Conflict(f"A store named {name!r} exists already.", field="name")
        store.name = name
    if "sku_source" in changes:
        try:
            store.sku_source = SkuSource(changes["sku_source"])
        except ValueError:
            raise Invalid("sku_source", f"sku_source must be one of {[s.value for s in SkuSource]}.") from None
    if "import_warehouse_id" in changes:
        warehouse_id = changes["import_warehouse_id"]
        if warehouse_id is not None and session.get(Warehouse, warehouse_id) is None:
            raise Invalid("import_warehouse_id", f"No warehouse with id {warehouse_id}.")
        store.import_warehouse_id = warehouse_id
    if "intervals" in changes:
        _set_intervals(session, store, changes["intervals"])
    session.flush()
    return store


def _set_intervals(session: Session, store: Store, intervals: Any) -> None:
    from kura.jobs import registry
    from kura.jobs.queue import load_kinds

    load_kinds()
    if not isinstance(intervals, Mapping):
        example = '{"rakuten.import_products": 3600}'
        raise Invalid("intervals", f"intervals is an object {{job kind: seconds}}, e.g. {example}.")
    kept = dict((store.settings or {}).get("intervals") or {})
    for kind, seconds in intervals.items():
        if kind not in registry.kinds():
            raise Invalid("intervals", f"Unknown job kind {kind!r}; known: {registry.kinds()}.")
        if isinstance(seconds, bool) or not isinstance(seconds, int) or (seconds and seconds < MIN_INTERVAL_S):
            raise Invalid("intervals", f"The interval of {kind} must be 0 (off) or ≥ {MIN_INTERVAL_S} seconds.")
        if seconds:
            ensure_schedule(session, kind, store.id, seconds, enabled=store.status == StoreStatus.active)
            kept[kind] = seconds
        else:
            set_enabled(session, kind, store.id, False)
            kept.pop(kind, None)
    store.settings = {**(store.settings or {}), "intervals": kept}


# ---------------------------------------------------------------- sync log


def log_entry(session: Session, store_id: int, *, kind: str, level: str, message: str, run_id: int | None = None,
              entity_ref: str | None = None, hint: str | None = None, function: str | None = None,
              request: Any = None, response: Any = None, retry: dict[str, Any] | None = None) -> None:  # fmt: skip
    session.add(SyncLogEntry(
        store_id=store_id, run_id=run_id, kind=kind, level=level, message=message[:4000],
        entity_ref=entity_ref[:200] if entity_ref else None, hint=hint, function=function,
        request=_bounded(request), response=_bounded(response), retry=retry,
    ))  # fmt: skip


def search_log(
    session: Session,
    store_id: int,
    *,
    kind: str | None = None,
    level: str | None = None,
    run_id: int | None = None,
    entity_ref: str | None = None,
    unresolved: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[SyncLogEntry]:
    """The sync log of a store, newest first, filtered."""
    check_window(limit, offset)
    conditions: list[Any] = [SyncLogEntry.store_id == store_id]
    if kind:
        conditions.append(SyncLogEntry.kind == kind)
    if level:
        levels = [lv.strip() for lv in level.split(",") if lv.strip()]
        conditions.append(SyncLogEntry.level.in_(levels))
    if run_id is not None:
        conditions.append(SyncLogEntry.run_id == run_id)
    if entity_ref:
        conditions.append(SyncLogEntry.entity_ref == entity_ref)
    if unresolved is not None:
        conditions.append(SyncLogEntry.resolved_at.is_(None) if unresolved else SyncLogEntry.resolved_at.is_not(None))
    total = count(session, select(SyncLogEntry.id).where(*conditions))
    items = session.scalars(
        select(SyncLogEntry).where(*conditions).order_by(SyncLogEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(items=items, total=total, limit=limit, offset=offset)


def get_log_entry(session: Session, entry_id: int) -> SyncLogEntry:
    entry = session.get(SyncLogEntry, entry_id)
    if entry is None:
        raise NotFound(f"No sync log entry {entry_id}.")
    return entry


def resolve_entries(session: Session, store_id: int, entity_refs: Iterable[str], kind: str = "products") -> int:
    """Marks the open errors about these records resolved (they were imported since)."""
    refs = list(entity_refs)
    if not refs:
        return 0
    rows = session.scalars(select(SyncLogEntry).where(
        SyncLogEntry.store_id == store_id, SyncLogEntry.kind == kind, SyncLogEntry.entity_ref.in_(refs),
        SyncLogEntry.resolved_at.is_(None), SyncLogEntry.retry.is_not(None),
    )).all()  # fmt: skip
    now = utcnow()
    for row in rows:
        row.resolved_at = now
    return len(rows)


def error_counts(session: Session, store_id: int) -> int:
    return int(session.scalar(select(func.count(SyncLogEntry.id)).where(
        SyncLogEntry.store_id == store_id, SyncLogEntry.retry.is_not(None), SyncLogEntry.resolved_at.is_(None)
    )) or 0)  # fmt: skip


IMPORT_KIND = "rakuten.import_products"
GROUP_KIND = "rakuten.sync_group"


def product_bindings(session: Session, product_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The Rakuten bindings of products: {product id: [{store_id, store, manage_number}]}."""
    from kura.stores.models import Binding, BindingEntity

    ids = list(product_ids)
    found: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(Binding.local_id, Binding.store_id, Store.name, Binding.external_id)
            .join(Store, Store.id == Binding.store_id)
            .where(Binding.entity == BindingEntity.product, Binding.local_id.in_(ids[i : i + 500]))
        )
        for local_id, store_id, name, external_id in rows:
            found.setdefault(local_id, []).append({"store_id": store_id, "store": name, "manage_number": external_id})
    return found
