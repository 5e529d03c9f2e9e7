"""Stores API: connect a Rakuten shop (credentials checked, secrets masked), list, settings, update key, product
syncs (202 + run id), job runs with progress, the sync log and retrying one record."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kura.channels.rakuten.products import SyncRequest, request_sync, retry_request
from kura.db import Database
from kura.jobs.runs import JobRun
from kura.stores import service
from kura.stores.models import Channel, SkuSource, Store, StoreStatus, SyncLogEntry
from kura.web.api.common import (
    Admin,
    Limit,
    Offset,
    PageOut,
    PathId,
    QueryId,
    QueryText,
    Reader,
    Text,
    Writer,
    changes,
    errors,
)
from kura.web.deps import get_db, read_scope

log = logging.getLogger(__name__)
router = APIRouter(tags=["stores"])

Secret = Annotated[Text, Field(min_length=1, max_length=service.SECRET_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreIn(_In):
    """A Rakuten shop to connect (channel rakuten, the default when keys are given), or a manual store."""

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    channel: Channel | None = None
    shop_url: Annotated[Text, Field(max_length=255, examples=["https://www.rakuten.co.jp/myshop/"])] | None = None
    license_key: Secret | None = None
    service_secret: Secret | None = None
    api_base_url: Annotated[Text, Field(max_length=255, description="Default: the real RMS host.")] | None = None
    import_products: bool = True


class StoreOut(BaseModel):
    id: int
    name: str
    channel: Channel
    status: StoreStatus
    status_reason: str | None
    shop_code: str | None
    shop_url: str | None
    api_base_url: str | None
    license_key: str | None = Field(description="Masked; the key itself is never shown.")
    service_secret: str | None = Field(description="Masked.")
    license_expires_at: dt.datetime | None
    license_expiry_warning: bool
    license_days_left: int | None
    sku_source: SkuSource
    import_warehouse_id: int | None
    settings: dict[str, Any]
    created_at: dt.datetime
    import_run_id: int | None = None

    @classmethod
    def of(cls, store: Store, import_run_id: int | None = None) -> StoreOut:
        rakuten = store.channel == Channel.rakuten
        return cls(
            id=store.id, name=store.name, channel=store.channel, status=store.status,
            status_reason=store.status_reason, shop_code=store.shop_code,
            shop_url=f"https://www.rakuten.co.jp/{store.shop_code}/" if store.shop_code else None,
            api_base_url=store.api_base_url, license_key=store.license_key_hint,
            service_secret="••••••••" if rakuten and store.service_secret_enc else None,
            license_expires_at=store.license_expires_at, license_expiry_warning=service.expiry_warning(store),
            license_days_left=service.days_left(store), sku_source=store.sku_source,
            import_warehouse_id=store.import_warehouse_id,
            settings={k: v for k, v in (store.settings or {}).items() if k in ("intervals",)},
            created_at=store.created_at, import_run_id=import_run_id,
        )  # fmt: skip


class SettingsIn(_In):
    name: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    sku_source: SkuSource | None = None
    import_warehouse_id: Annotated[int, Field(ge=1)] | None = None
    intervals: dict[str, Annotated[int, Field(ge=0, le=30 * 86400)]] | None = None


class KeyIn(_In):
    license_key: Secret
    service_secret: Secret | None = None


class SyncIn(_In):
    manage_number: Annotated[Text, Field(min_length=1, max_length=32)] | None = None
    groups_only: bool = False


class RunOut(BaseModel):
    id: int
    kind: str
    store_id: int | None
    status: str
    progress_done: int
    progress_total: int | None
    counts: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, run: JobRun) -> RunOut:
        counts = {k: v for k, v in (run.counts or {}).items() if k != "cursor"} if run.counts else None
        return cls(id=run.id, kind=run.kind, store_id=run.store_id, status=run.status.value,
                   progress_done=run.progress_done, progress_total=run.progress_total, counts=counts,
                   error=run.error.strip().splitlines()[-1] if run.error else None, created_at=run.created_at,
                   started_at=run.started_at, finished_at=run.finished_at)  # fmt: skip


class Accepted(BaseModel):
    run_id: int
    kind: str
    status_url: str


class LogOut(BaseModel):
    id: int
    store_id: int
    run_id: int | None
    kind: str
    level: str
    function: str | None
    entity_ref: str | None
    message: str
    hint: str | None
    status_code: int | None
    duration_ms: int | None
    request: Any
    response: Any
    retryable: bool
    resolved_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, e: SyncLogEntry) -> LogOut:
        return cls(id=e.id, store_id=e.store_id, run_id=e.run_id, kind=e.kind, level=e.level, function=e.function,
                   entity_ref=e.entity_ref, message=e.message, hint=e.hint, status_code=e.status_code,
                   duration_ms=e.duration_ms, request=e.request, response=e.response,
                   retryable=bool(e.retry) and e.resolved_at is None, resolved_at=e.resolved_at,
                   created_at=e.created_at)  # fmt: skip


# ---------------------------------------------------------------- the queue of this app


def job_queue(request: Request) -> Any:
    """The Huey this app sends kicks to: the embedded consumer's, else one built from the app's queue URL."""
    huey = getattr(request.app.state, "huey", None)
    if huey is None:
        jobs = getattr(request.app.state, "jobs", None)
        if jobs is not None:
            huey = jobs.huey
        else:
            from kura.jobs.queue import make_huey

            huey = make_huey(request.app.state.settings.queue_url)
        request.app.state.huey = huey
    return huey


def launch(request: Request, kind: str, store_id: int, run_id: int) -> None:
    """Sends a queued run to the workers (after its transaction committed); a lost kick leaves it queued."""
    from kura.jobs.queue import enqueue

    try:
        enqueue(job_queue(request), kind, store_id, run_id)
    except Exception:
        log.exception("could not enqueue %s run %s for store %s", kind, run_id, store_id)


# ---------------------------------------------------------------- stores


@router.get("/stores", response_model=PageOut[StoreOut])
def list_stores(user: Reader, limit: Limit = 50, offset: Offset = 0,
                s: Session = Depends(read_scope)) -> PageOut[StoreOut]:  # fmt: skip
    rows = service.list_stores(s)  # a handful per installation
    return PageOut(items=[StoreOut.of(r) for r in rows[offset : offset + limit]], total=len(rows),
                   limit=limit, offset=offset)  # fmt: skip


@router.post("/stores", status_code=201, response_model=StoreOut, responses=errors(403, 409, 422, 502))
def create_store(body: StoreIn, request: Request, user: Admin, db: Database = Depends(get_db)) -> StoreOut:
    """Connect a Rakuten shop (License Key, Service Secret, Shop URL; checked with RMS before anything is saved;
    the product import starts at once), or add a manual store (`{"name": ..}`)."""
    channel = body.channel or (Channel.rakuten if body.license_key or body.shop_url else Channel.manual)
    if channel == Channel.manual:
        with db.transaction() as s:
            return StoreOut.of(service.create_manual_store(s, body.name))
    connected = service.connect_rakuten(
        db, name=body.name, shop_url=body.shop_url or "", license_key=body.license_key or "",
        service_secret=body.service_secret or "", api_base_url=body.api_base_url,
        import_products=body.import_products,
    )  # fmt: skip
    if connected.run_id is not None:
        launch(request, service.IMPORT_KIND, connected.store_id, connected.run_id)
    with db.reader() as s:
        return StoreOut.of(service.get_store(s, connected.store_id), connected.run_id)


@router.get("/stores/{store_id}", response_model=StoreOut, responses=errors(404))
def get_store(store_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> StoreOut:
    return StoreOut.of(service.get_store(s, store_id))


@router.patch("/stores/{store_id}", response_model=StoreOut, responses=errors(403, 404, 409, 422))
def update_settings(store_id: PathId, body: SettingsIn, user: Admin, db: Database = Depends(get_db)) -> StoreOut:
    """Change the SKU field, the import warehouse, the name, or job intervals ({kind: seconds}, 0 = off)."""
    with db.transaction() as s:
        return StoreOut.of(service.update_settings(s, store_id, changes(body)))


@router.post("/stores/{store_id}/key", response_model=StoreOut, responses=errors(403, 404, 422, 502))
def update_key(store_id: PathId, body: KeyIn, user: Admin, db: Database = Depends(get_db)) -> StoreOut:
    """A new License Key (and optionally Service Secret): checked with RMS, then saved; a store that needed
    attention is active again and its jobs resume."""
    return StoreOut.of(service.update_key(db, store_id, body.license_key, body.service_secret))


@router.post("/stores/{store_id}/sync/products", status_code=202, response_model=Accepted,
             responses=errors(403, 404, 409))  # fmt: skip
def sync_products(store_id: PathId, request: Request, user: Writer, body: SyncIn | None = None,
                  db: Database = Depends(get_db)) -> Accepted:  # fmt: skip
    """Import every item; or one item (`manage_number`), or every group item (`groups_only`)."""
    body = body or SyncIn()
    kind, run_id = request_sync(db, store_id, SyncRequest.of(body.model_dump()))
    launch(request, kind, store_id, run_id)
    return Accepted(run_id=run_id, kind=kind, status_url=f"/api/v1/runs/{run_id}")


@router.get("/runs/{run_id}", response_model=RunOut, responses=errors(404))
def get_run(run_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> RunOut:
    from kura.errors import NotFound

    run = s.get(JobRun, run_id)
    if run is None:
        raise NotFound(f"No job run {run_id}.")
    return RunOut.of(run)


@router.get("/stores/{store_id}/sync-log", response_model=PageOut[LogOut], responses=errors(404))
def sync_log(
    store_id: PathId,
    user: Reader,
    kind: QueryText = None,
    level: QueryText = None,  # info, warning, error (comma-separated)
    run_id: QueryId = None,
    entity_ref: QueryText = None,
    unresolved: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    s: Session = Depends(read_scope),
) -> PageOut[LogOut]:
    service.get_store(s, store_id)
    page = service.search_log(s, store_id, kind=kind, level=level, run_id=run_id, entity_ref=entity_ref,
                              unresolved=unresolved, limit=limit, offset=offset)  # fmt: skip
    return PageOut(items=[LogOut.of(e) for e in page.items], total=page.total, limit=limit, offset=offset)


@router.post("/sync-log/{entry_id}/retry", status_code=202, response_model=Accepted, responses=errors(400, 404))
def retry_entry(entry_id: PathId, request: Request, user: Writer, db: Database = Depends(get_db)) -> Accepted:
    """Retry one failed record alone (the item it names is synced again)."""
    with db.reader() as s:
        entry = service.get_log_entry(s, entry_id)
        store_id, retry = entry.store_id, entry.retry
    kind, run_id = request_sync(db, store_id, retry_request(retry))
    launch(request, kind, store_id, run_id)
    return Accepted(run_id=run_id, kind=kind, status_url=f"/api/v1/runs/{run_id}")

