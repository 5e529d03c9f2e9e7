"""Bulk product upload: templates, uploads (xlsx or CSV) with a summary, and the report of every problem (.xlsx).

`POST /bulk/uploads` answers 201 with the summary even when rows were refused: the upload itself worked, and
`problems` (the first 200) and `report_url` (all of them, with sheet, row, column and fix) say what to correct.
With `store_id`, the applied products are queued for listing on that store (the listing job calls Rakuten).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from kura.bulk.models import BulkUpload
from kura.bulk.templates import template
from kura.bulk.upload import process
from kura.db import Database
from kura.errors import NotFound
from kura.web.api.common import PathId, QueryId, Reader, Writer, errors
from kura.web.deps import get_db, read_scope

router = APIRouter(tags=["bulk"], responses=errors(401, 422))

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Kind = Literal["single", "kit", "group"]


def report_dir(request: Request) -> Path:
    return Path(request.app.state.settings.var_dir) / "bulk"


@router.get("/bulk/templates/{kind}.xlsx", response_class=Response)
def download_template(kind: Kind, user: Reader) -> Response:
    """The Excel template of one product type (a product sheet and an instructions sheet)."""
    return Response(template(kind), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="kura-{kind}-template.xlsx"'})  # fmt: skip


def upload_out(upload_id: int | None, summary: dict[str, Any]) -> dict[str, Any]:
    return {**summary, "report_url": f"/api/v1/bulk/uploads/{upload_id}/report.xlsx" if upload_id else None}


@router.post("/bulk/uploads", status_code=201)
def upload(
    request: Request,
    user: Writer,
    file: Annotated[UploadFile, File(description=".xlsx (the template) or .csv (UTF-8 or Shift_JIS).")],
    store_id: QueryId = None,
    type: Annotated[Kind | None, Query(description="The product type of a CSV without a type column.")] = None,
    dry_run: Annotated[bool, Query(description="Check every row, change nothing.")] = False,
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    """Checks every row, applies the valid products, reports every problem; optionally lists them on a store."""
    summary = process(db, file.file, file.filename or "upload.xlsx", report_dir=report_dir(request),
                      store_id=store_id, product_type=type, dry_run=dry_run, user_id=user.id)  # fmt: skip
    return upload_out(summary.upload_id, summary.to_dict())


def _upload(s: Session, upload_id: int) -> BulkUpload:
    row = s.get(BulkUpload, upload_id)
    if row is None:
        raise NotFound(f"No upload with id {upload_id}.")
    return row


@router.get("/bulk/uploads/{upload_id}", responses=errors(404))
def upload_summary(upload_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> dict[str, Any]:
    row = _upload(s, upload_id)
    return upload_out(row.id, {**(row.summary or {}), "status": row.status})


@router.get("/bulk/uploads/{upload_id}/report.xlsx", response_class=FileResponse, responses=errors(404))
def upload_report(upload_id: PathId, user: Reader, s: Session = Depends(read_scope)) -> FileResponse:
    """Every problem of the upload, with sheet, row, column, value and how to fix it."""
    row = _upload(s, upload_id)
    if not row.report_path or not Path(row.report_path).exists():
        raise NotFound(f"The report of upload {upload_id} is not available (any more).")
    return FileResponse(row.report_path, media_type=XLSX, filename=f"kura-upload-{upload_id}-report.xlsx")
