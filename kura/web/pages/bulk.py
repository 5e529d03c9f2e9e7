"""Products → Bulk upload: template downloads, the upload form, the result summary and its report download.

A form post (multipart) runs the upload and shows its summary on the page; the report is the API's
`/api/v1/bulk/uploads/{id}/report.xlsx`, which the browser session may download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from kura.auth.models import User
from kura.bulk.columns import ProductKind
from kura.bulk.models import BulkUpload
from kura.bulk.upload import process
from kura.db import Database
from kura.errors import Invalid, KuraError
from kura.stores.models import Channel, Store
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import page_writer, yes
from kura.web.templating import render

router = APIRouter(include_in_schema=False)
KINDS = ("single", "kit", "group")


def _context(db: Database) -> dict[str, Any]:
    with db.reader() as s:
        stores = [(st.id, st.name) for st in s.scalars(select(Store).where(Store.channel == Channel.rakuten)
                                                       .order_by(Store.name))]  # fmt: skip
        recent = [(u.id, u.filename, u.status, u.created_at, u.summary or {}) for u in
                  s.scalars(select(BulkUpload).order_by(BulkUpload.id.desc()).limit(10))]  # fmt: skip
    return {"stores": stores, "recent": recent, "kinds": KINDS}


@router.get("/products/bulk")
def bulk_page(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    return render(request, "bulk/upload.html", user=user, active="products", summary=None, error=None,
                  **_context(db))  # fmt: skip


@router.post("/products/bulk")
async def bulk_upload(request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)) -> Response:
    form = await request.form()
    file = form.get("file")
    error: KuraError | None = None
    summary = None
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid("file", "Choose a file to upload (.xlsx or .csv).")
        store = str(form.get("store_id") or "")
        chosen = str(form.get("type") or "")
        if chosen and chosen not in KINDS:
            raise Invalid("type", f"Unknown product type {chosen!r}.")
        kind: ProductKind | None = chosen or None  # type: ignore[assignment]
        from starlette.concurrency import run_in_threadpool

        var_dir = Path(request.app.state.settings.var_dir) / "bulk"
        result = await run_in_threadpool(
            process, db, file.file, file.filename, report_dir=var_dir, store_id=int(store) if store else None,
            product_type=kind, dry_run=yes(form.get("dry_run")), user_id=user.id,
        )  # fmt: skip
        summary = result.to_dict()
    except KuraError as exc:
        error = exc
    status = 200 if error is None else 422
    return render(request, "bulk/upload.html", status_code=status, user=user, active="products", summary=summary,
                  error=error, **_context(db))  # fmt: skip


# ---------------------------------------------------------------- product page: Rakuten listing actions


def _listing_panel(request: Request, db: Database, user: User, product_id: int, **extra: Any) -> Response:
    from kura.web.api.listings import listings_of

    with db.reader() as s:
        listed = listings_of(s, product_id)
        stores = [(st.id, st.name) for st in s.scalars(select(Store).where(Store.channel == Channel.rakuten)
                                                       .order_by(Store.name))]  # fmt: skip
    return render(request, "bulk/_listing_actions.html", user=user, product_id=product_id, listed=listed,
                  stores=stores, **extra)  # fmt: skip


@router.get("/products/{product_id:int}/listing-actions")
def listing_actions(request: Request, product_id: int, user: User = Depends(page_user),
                    db: Database = Depends(get_db)) -> Response:  # fmt: skip
    return _listing_panel(request, db, user, product_id)


@router.post("/products/{product_id:int}/listing-actions")
async def listing_action(request: Request, product_id: int, user: User = Depends(page_writer),
                         db: Database = Depends(get_db)) -> Response:  # fmt: skip
    from starlette.concurrency import run_in_threadpool

    from kura.channels.rakuten import listing
    from kura.channels.rakuten.errors import RmsError

    form = await request.form()
    action, store = str(form.get("action") or ""), str(form.get("store_id") or "")
    result, error, done = None, None, None
    try:
        if not store.isdigit():
            raise Invalid("store_id", "Choose a Rakuten store.")
        store_id = int(store)
        if action == "list":
            result = await run_in_threadpool(listing.list_product, db, store_id, product_id)
            done = None if result.problems else ("Listed on Rakuten." if result.created else "Updated on Rakuten.")
        elif action in ("hide", "unhide"):
            await run_in_threadpool(listing.set_hidden, db, store_id, product_id, action == "hide")
            done = "Deactivated on Rakuten." if action == "hide" else "Activated on Rakuten."
        elif action == "delete":
            await run_in_threadpool(listing.delete_listing, db, store_id, product_id)
            done = "Deleted from Rakuten."
        else:
            raise Invalid("action", f"Unknown action {action!r}.")
    except KuraError as exc:
        error = exc.message
    except RmsError as exc:
        error = f"Rakuten did not take the request: {exc}"
    return _listing_panel(request, db, user, product_id, result=result, error=error, done=done)
