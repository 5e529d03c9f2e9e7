"""Integrations → Ecommerce Sales Channels → Rakuten Store: connect a shop, its page (status, key expiry,
settings, Sync Products / Sync Group Products with live progress over SSE, the sync log with Retry), update key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from kura.auth.models import User
from kura.channels.rakuten.products import SyncRequest, request_sync, retry_request
from kura.db import Database
from kura.errors import KuraError
from kura.inventory.service import list_warehouses
from kura.jobs.runs import JobRun, RunStatus
from kura.stores import service
from kura.stores.models import SkuSource
from kura.web.api.stores import launch
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import page_writer, whole_number
from kura.web.templating import env, render

router = APIRouter(include_in_schema=False)
page_admin = page_writer  # connecting and keys need an operator at least; the API asks for admin
FINISHED = {RunStatus.done, RunStatus.failed, RunStatus.skipped}
LOG_PAGE = 50


def _store_row(store: Any) -> dict[str, Any]:
    return {"id": store.id, "name": store.name, "channel": store.channel.value, "status": store.status.value,
            "status_reason": store.status_reason, "shop_code": store.shop_code, "api_base_url": store.api_base_url,
            "license_key": store.license_key_hint, "expires_at": store.license_expires_at,
            "expiry_warning": service.expiry_warning(store), "days_left": service.days_left(store),
            "sku_source": store.sku_source.value, "import_warehouse_id": store.import_warehouse_id,
            "intervals": (store.settings or {}).get("intervals") or {}}  # fmt: skip


@router.get("/integrations")
def integrations(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    with db.reader() as s:
        stores = [_store_row(st) for st in service.list_stores(s)]
    return render(request, "integrations.html", user=user, active="integrations", stores=stores, form={},
                  error=None)  # fmt: skip


@router.post("/integrations/rakuten/connect")
def connect(
    request: Request,
    name: str = Form(""),
    shop_url: str = Form(""),
    license_key: str = Form(""),
    service_secret: str = Form(""),
    api_base_url: str = Form(""),
    user: User = Depends(page_admin),
    db: Database = Depends(get_db),
) -> Response:
    try:
        connected = service.connect_rakuten(db, name=name, shop_url=shop_url, license_key=license_key,
                                            service_secret=service_secret, api_base_url=api_base_url or None)
    except KuraError as exc:
        with db.reader() as s:
            stores = [_store_row(st) for st in service.list_stores(s)]
        form = {"name": name, "shop_url": shop_url, "api_base_url": api_base_url}  # never echo the secrets
        return render(request, "integrations.html", status_code=exc.status, user=user, active="integrations",
                      stores=stores, form=form, error=exc.message)  # fmt: skip
    if connected.run_id is not None:
        launch(request, service.IMPORT_KIND, connected.store_id, connected.run_id)
    return RedirectResponse(f"/integrations/stores/{connected.store_id}?run={connected.run_id or ''}", 303)


# Other areas add blocks to the store page (order sync, stock sync): each gives template context for a store.
store_blocks: list[Callable[[Session, int], dict[str, Any]]] = []


def _store_page(request: Request, user: User, db: Database, store_id: int, *, run_id: int | None = None,
                error: str | None = None, notice: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    level = request.query_params.get("level") or None
    offset = whole_number(request.query_params.get("offset") or "0", "offset", minimum=0) or 0
    with db.reader() as s:
        store = service.get_store(s, store_id)
        row = _store_row(store)
        warehouses = [(w.id, w.code, w.name) for w in list_warehouses(s)]
        log = service.search_log(s, store_id, level=level, limit=LOG_PAGE, offset=offset,
                                 kind=request.query_params.get("kind") or None)  # fmt: skip
        runs = list(s.scalars(select(JobRun).where(JobRun.store_id == store_id).order_by(JobRun.id.desc()).limit(8)))
        if run_id is None:
            active = next((r for r in runs if r.status not in FINISHED), None)
            run_id = active.id if active is not None else None
        open_errors = service.error_counts(s, store_id)
        blocks: dict[str, Any] = {}
        for block in store_blocks:
            blocks.update(block(s, store_id))
    return render(request, "integrations_store.html", status_code=status_code, user=user, active="integrations",
                  store=row, warehouses=warehouses, log=log, runs=runs, run_id=run_id, error=error, notice=notice,
                  level=level or "", offset=offset, per_page=LOG_PAGE, open_errors=open_errors,
                  sku_sources=[s.value for s in SkuSource], import_kind=service.IMPORT_KIND, **blocks)  # fmt: skip


store_page_response = _store_page  # the store page with an error or a notice, for the blocks' forms


@router.get("/integrations/stores/{store_id}")
def store_page(store_id: int, request: Request, user: User = Depends(page_user),
               db: Database = Depends(get_db)) -> Response:  # fmt: skip
    run = request.query_params.get("run")
    return _store_page(request, user, db, store_id, run_id=int(run) if run and run.isdigit() else None)


@router.post("/integrations/stores/{store_id}/sync")
def sync(
    store_id: int,
    request: Request,
    what: str = Form("products"),
    manage_number: str = Form(""),
    user: User = Depends(page_writer),
    db: Database = Depends(get_db),
) -> Response:
    sync_request = SyncRequest(manage_number=manage_number.strip().lower() or None, groups_only=what == "groups")
    try:
        kind, run_id = request_sync(db, store_id, sync_request)
    except KuraError as exc:
        return _store_page(request, user, db, store_id, error=exc.message, status_code=exc.status)
    launch(request, kind, store_id, run_id)
    return RedirectResponse(f"/integrations/stores/{store_id}?run={run_id}", 303)


@router.post("/integrations/stores/{store_id}/settings")
def settings(
    store_id: int,
    request: Request,
    sku_source: str = Form(...),
    import_warehouse_id: str = Form(""),
    import_interval_h: str = Form(""),
    user: User = Depends(page_admin),
    db: Database = Depends(get_db),
) -> Response:
    try:
        hours = whole_number(import_interval_h, "import_interval_h", required=False, minimum=0) or 0
        with db.transaction() as s:
            service.update_settings(s, store_id, {
                "sku_source": sku_source,
                "import_warehouse_id": whole_number(import_warehouse_id, "import_warehouse_id", required=False),
                "intervals": {service.IMPORT_KIND: hours * 3600},
            })  # fmt: skip
    except KuraError as exc:
        return _store_page(request, user, db, store_id, error=exc.message, status_code=exc.status)
    return _store_page(request, user, db, store_id, notice="Settings saved.")


@router.post("/integrations/stores/{store_id}/key")
def update_key(
    store_id: int,
    request: Request,
    license_key: str = Form(""),
    service_secret: str = Form(""),
    user: User = Depends(page_admin),
    db: Database = Depends(get_db),
) -> Response:
    try:
        service.update_key(db, store_id, license_key, service_secret or None)
    except KuraError as exc:
        return _store_page(request, user, db, store_id, error=exc.message, status_code=exc.status)
    return _store_page(request, user, db, store_id, notice="The key was checked with RMS and saved.")


@router.post("/integrations/sync-log/{entry_id}/retry")
def retry(entry_id: int, request: Request, user: User = Depends(page_writer),
          db: Database = Depends(get_db)) -> Response:  # fmt: skip
    with db.reader() as s:
        entry = service.get_log_entry(s, entry_id)
        store_id, how = entry.store_id, entry.retry
    try:
        kind, run_id = request_sync(db, store_id, retry_request(how))
    except KuraError as exc:
        return _store_page(request, user, db, store_id, error=exc.message, status_code=exc.status)
    launch(request, kind, store_id, run_id)
    return RedirectResponse(f"/integrations/stores/{store_id}?run={run_id}", 303)


# ---------------------------------------------------------------- live progress (SSE)


def _read_run(db: Database, run_id: int) -> dict[str, Any] | None:
    with db.reader() as s:
        run = s.get(JobRun, run_id)
        if run is None:
            return None
        counts = {k: v for k, v in (run.counts or {}).items() if isinstance(v, int) and v}
        return {"id": run.id, "kind": run.kind, "status": run.status.value, "done": run.progress_done,
                "total": run.progress_total, "counts": counts, "finished": run.status in FINISHED,
                "error": run.error.strip().splitlines()[-1] if run.error else None}  # fmt: skip


@router.get("/integrations/runs/{run_id}/events")
async def run_events(run_id: int, request: Request, user: User = Depends(page_user),
                     db: Database = Depends(get_db)) -> EventSourceResponse:  # fmt: skip
    """Progress of a run as server-sent events ("progress" with the bar's HTML; "done" when it ends)."""
    template = env.get_template("integrations/_progress.html")

    async def events() -> AsyncIterator[dict[str, str]]:
        last = None
        while not await request.is_disconnected():
            run = await asyncio.to_thread(_read_run, db, run_id)
            snapshot = json.dumps(run, default=str)
            if snapshot != last:
                last = snapshot
                yield {"event": "progress", "data": template.render(run=run)}
            if run is None or run["finished"]:
                yield {"event": "done", "data": run["status"] if run else "unknown"}
                return
            await asyncio.sleep(0.5)

    return EventSourceResponse(events(), ping=15)
